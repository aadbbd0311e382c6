package restapi

import (
	"context"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// The message-extension service (openim_msg_ext_http_svc) answers an
// unparsable body with 90001 and a bad field with 90010 (decision E2),
// except for the fields it shares with openim and the group service:
// From_Account, To_Account and MsgKey keep their openim codes (90008,
// 90003, 90054) whatever is wrong with them, and a GroupId no group can
// have is 10015. REST calls are the App admin's, so the operator is always
// the admin and no KV's Seq is checked (decision 9.1).

// extensionEngine is the part of the engine the extension calls use,
// shared by Engine and ClientEngine.
type extensionEngine interface {
	SetExtensions(ctx context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error)
	GetExtensions(ctx context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error)
}

// c2cMessageRef reads which C2C message an extension call is about.
func c2cMessageRef(f fields) (ref chat.MessageRef, err error) {
	if ref.From, err = account(f, "From_Account", parley.ErrFromAccountInvalid, false); err != nil {
		return ref, err
	}
	if ref.To, err = account(f, "To_Account", parley.ErrToAccountInvalid, true); err != nil {
		return ref, err
	}
	key, _, err := f.string("MsgKey", parley.ErrMsgKeyInvalid)
	if err != nil {
		return ref, err
	}
	if key == "" {
		return ref, parley.Errorf(parley.ErrMsgKeyInvalid, "MsgKey is required")
	}
	ref.MsgKey = key
	return ref, nil
}

// groupMessageRef reads which group message an extension call is about:
// GroupId and a MsgSeq of 1 or more (group seqs start at 1).
func groupMessageRef(f fields) (ref chat.MessageRef, err error) {
	if ref.GroupID, err = groupID(f, parley.ErrFormat); err != nil {
		return ref, err
	}
	seq, present, err := f.uint64("MsgSeq", parley.ErrFormat)
	if err != nil {
		return ref, err
	}
	if !present || seq == 0 {
		return ref, parley.Errorf(parley.ErrFormat, "MsgSeq is required and must be a positive integer")
	}
	ref.MsgSeq = seq
	return ref, nil
}

// extensionOp reads OperateType and ExtensionList. The list is read for a
// set or a delete only; a clear ignores it. The KVs' keys, values and
// repeats are the engine's to judge (90010 too).
func extensionOp(f fields) (op int, kvs []parley.ExtensionKV, err error) {
	n, present, err := f.int("OperateType", parley.ErrFormat)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case !present:
		return 0, nil, parley.Errorf(parley.ErrFormat, "OperateType is required")
	case n != parley.ExtensionSet && n != parley.ExtensionDel && n != parley.ExtensionClear:
		return 0, nil, parley.Errorf(parley.ErrFormat, "OperateType %d is not 1 (set), 2 (delete) or 3 (clear)", n)
	}
	op = int(n)
	const name = "ExtensionList"
	elems, present, err := f.array(name, parley.ErrFormat)
	if err != nil || op == parley.ExtensionClear {
		return op, nil, err
	}
	switch {
	case !present || len(elems) == 0:
		return 0, nil, parley.Errorf(parley.ErrFormat, "%s is required for OperateType %d", name, op)
	case len(elems) > parley.MaxExtensionKVsPerCall:
		return 0, nil, parley.Errorf(parley.ErrFormat, "%s has %d KVs; at most %d are allowed", name, len(elems), parley.MaxExtensionKVsPerCall)
	}
	objs, err := objectsOf(name, elems, parley.ErrFormat)
	if err != nil {
		return 0, nil, err
	}
	kvs = make([]parley.ExtensionKV, len(objs))
	for i, o := range objs {
		key, present, err := o.string("Key", parley.ErrFormat)
		if err != nil {
			return 0, nil, err
		}
		if !present {
			return 0, nil, parley.Errorf(parley.ErrFormat, "%s[%d].Key is required", name, i)
		}
		value, _, err := o.string("Value", parley.ErrFormat)
		if err != nil {
			return 0, nil, err
		}
		seq, _, err := o.uint64("Seq", parley.ErrFormat)
		if err != nil {
			return 0, nil, err
		}
		if op == parley.ExtensionDel {
			// A delete's Value means nothing; Tencent's samples send "".
			value = ""
		}
		kvs[i] = parley.ExtensionKV{Key: key, Value: value, Seq: seq}
	}
	return op, kvs, nil
}

// startSeq reads get_key_values' optional StartSeq.
func startSeq(f fields) (uint64, error) {
	seq, _, err := f.uint64("StartSeq", parley.ErrFormat)
	return seq, err
}

type extensionResultItem struct {
	ErrorCode int                `json:"ErrorCode"`
	Extension parley.ExtensionKV `json:"Extension"`
}

type setKeyValuesAnswer struct {
	ExtensionList []extensionResultItem `json:"ExtensionList"`
}

type getKeyValuesAnswer struct {
	CompleteFlag  int                  `json:"CompleteFlag"`
	LatestSeq     uint64               `json:"LatestSeq"`
	ClearSeq      uint64               `json:"ClearSeq"`
	ExtensionList []parley.ExtensionKV `json:"ExtensionList"`
}

// setExtensions runs an extension write as c.user: "" for REST calls,
// which are the App admin's.
func (h *Handler) setExtensions(c *call, ref chat.MessageRef) (any, error) {
	return setExtensionsWith(h.engine, c, ref)
}

func setExtensionsWith(engine extensionEngine, c *call, ref chat.MessageRef) (any, error) {
	op, kvs, err := extensionOp(c.f)
	if err != nil {
		return nil, err
	}
	res, err := engine.SetExtensions(c.ctx, chat.SetExtensionsParams{Ref: ref, Operator: c.user, OperateType: op, KVs: kvs, Origin: c.origin})
	if err != nil {
		return nil, err
	}
	// A clear has no per-KV results: its list is [] (decision E1).
	answer := setKeyValuesAnswer{ExtensionList: make([]extensionResultItem, 0, len(res.Results))}
	for _, r := range res.Results {
		answer.ExtensionList = append(answer.ExtensionList, extensionResultItem{ErrorCode: r.Code, Extension: r.KV})
	}
	return answer, nil
}

func (h *Handler) getExtensions(c *call, ref chat.MessageRef) (any, error) {
	return getExtensionsWith(h.engine, c, ref)
}

func getExtensionsWith(engine extensionEngine, c *call, ref chat.MessageRef) (any, error) {
	start, err := startSeq(c.f)
	if err != nil {
		return nil, err
	}
	res, err := engine.GetExtensions(c.ctx, chat.GetExtensionsParams{Ref: ref, StartSeq: start, Operator: c.user})
	if err != nil {
		return nil, err
	}
	answer := getKeyValuesAnswer{
		LatestSeq:     res.LatestSeq,
		ClearSeq:      res.ClearSeq,
		ExtensionList: res.KVs,
	}
	if res.Complete {
		answer.CompleteFlag = 1
	}
	if answer.ExtensionList == nil {
		answer.ExtensionList = []parley.ExtensionKV{}
	}
	return answer, nil
}

func (h *Handler) setKeyValues(c *call) (any, error) {
	ref, err := c2cMessageRef(c.f)
	if err != nil {
		return nil, err
	}
	return h.setExtensions(c, ref)
}

func (h *Handler) getKeyValues(c *call) (any, error) {
	ref, err := c2cMessageRef(c.f)
	if err != nil {
		return nil, err
	}
	return h.getExtensions(c, ref)
}

func (h *Handler) groupSetKeyValues(c *call) (any, error) {
	ref, err := groupMessageRef(c.f)
	if err != nil {
		return nil, err
	}
	return h.setExtensions(c, ref)
}

func (h *Handler) groupGetKeyValues(c *call) (any, error) {
	ref, err := groupMessageRef(c.f)
	if err != nil {
		return nil, err
	}
	return h.getExtensions(c, ref)
}
