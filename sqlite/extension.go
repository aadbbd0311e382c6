package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/parley-im/parley"
)

// The reads.
const (
	sqlExtensionStateGet = `SELECT seq, clear_seq, count FROM extension_states WHERE target = ?`
	// ?2 is a JSON array of keys.
	sqlExtensionGetKeys = `SELECT key, value, seq FROM extension_kvs
		WHERE target = ?1 AND key IN (SELECT value FROM json_each(?2))`
	sqlExtensionList = `SELECT key, value, seq FROM extension_kvs INDEXED BY extension_kvs_seq
		WHERE target = ?1 AND seq >= ?2
		ORDER BY seq, key LIMIT ?3`
)

// The writes.
const (
	sqlExtensionClear = `DELETE FROM extension_kvs WHERE target = ?`
	sqlExtensionPut   = `INSERT INTO extension_kvs (target, key, value, seq) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (target, key) DO UPDATE SET value = excluded.value, seq = excluded.seq`
	sqlExtensionDelete = `DELETE FROM extension_kvs WHERE target = ? AND key = ?`
	// Runs after the KVs are written. count is recounted rather than moved
	// by deltas: a put may replace or add, a delete may find nothing, and
	// one call may name a key twice; counting at most 300 index entries of
	// one target is exact whatever the operation held. ?1 target, ?2 Seq,
	// ?3 whether this was a clear.
	sqlExtensionStateSet = `INSERT INTO extension_states (target, seq, clear_seq, count)
		VALUES (?1, ?2, iif(?3, ?2, 0), (SELECT count(*) FROM extension_kvs WHERE target = ?1))
		ON CONFLICT (target) DO UPDATE SET
			seq = excluded.seq,
			clear_seq = iif(?3, excluded.clear_seq, clear_seq),
			count = excluded.count`
)

func (r *readStmts) extensionStateGet(ctx context.Context, target string) (parley.ExtensionState, error) {
	var seq, clearSeq, count int64
	err := r.extensionStateGetStmt.QueryRowContext(ctx, target).Scan(&seq, &clearSeq, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.ExtensionState{}, nil
	}
	if err != nil {
		return parley.ExtensionState{}, err
	}
	return parley.ExtensionState{Seq: uint64(seq), ClearSeq: uint64(clearSeq), Count: int(count)}, nil
}

func collectExtensionKVs(rows *sql.Rows, err error) ([]parley.ExtensionKV, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parley.ExtensionKV
	for rows.Next() {
		var kv parley.ExtensionKV
		var seq int64
		if err := rows.Scan(&kv.Key, &kv.Value, &seq); err != nil {
			return nil, err
		}
		kv.Seq = uint64(seq)
		out = append(out, kv)
	}
	return out, rows.Err()
}

func (r *readStmts) extensionGetKeys(ctx context.Context, target string, keys []string) ([]parley.ExtensionKV, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	list, err := jsonList(keys)
	if err != nil {
		return nil, err
	}
	return collectExtensionKVs(r.extensionGetKeysStmt.QueryContext(ctx, target, list))
}

func (r *readStmts) extensionList(ctx context.Context, p parley.ExtensionListParams) ([]parley.ExtensionKV, error) {
	return collectExtensionKVs(r.extensionListStmt.QueryContext(ctx, p.Target, seqArg(p.StartSeq), limitArg(p.Limit)))
}

func (t *tx) ExtensionStateGet(ctx context.Context, target string) (parley.ExtensionState, error) {
	if err := t.check(ctx); err != nil {
		return parley.ExtensionState{}, err
	}
	return t.db.w.extensionStateGet(bg, target)
}

func (t *tx) ExtensionGetKeys(ctx context.Context, target string, keys []string) ([]parley.ExtensionKV, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.extensionGetKeys(bg, target, keys)
}

func (t *tx) ExtensionList(ctx context.Context, p parley.ExtensionListParams) ([]parley.ExtensionKV, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.extensionList(bg, p)
}

func (t *tx) ExtensionWrite(ctx context.Context, p parley.ExtensionWriteParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	w := t.db.w
	seq := seqArg(p.Seq)
	if p.Clear {
		if err := w.exec(w.extensionClear, p.Target); err != nil {
			return err
		}
	}
	for _, kv := range p.Put {
		if err := w.exec(w.extensionPut, p.Target, kv.Key, kv.Value, seq); err != nil {
			return err
		}
	}
	for _, key := range p.Delete {
		if err := w.exec(w.extensionDelete, p.Target, key); err != nil {
			return err
		}
	}
	return w.exec(w.extensionStateSet, p.Target, seq, boolInt(p.Clear))
}
