package e2e_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/webhook"
)

// TestWebhookPackageMatchesTheWire holds the receiver package's body types
// (a module of their own, which cannot import parley) to parley's: the same
// JSON keys in the same order, with the same kinds and options, for every
// command parley emits. A field added to one side and not the other fails.
func TestWebhookPackageMatchesTheWire(t *testing.T) {
	pairs := []struct {
		command        string
		parley, client any
	}{
		{parley.CommandC2CBeforeSendMsg, parley.BeforeSendMsg{}, webhook.C2CBeforeSendMsg{}},
		{parley.CommandC2CAfterSendMsg, parley.AfterSendMsg{}, webhook.C2CAfterSendMsg{}},
		{parley.CommandC2CAfterWithdraw, parley.AfterMsgWithdraw{}, webhook.C2CAfterMsgWithdraw{}},
		{parley.CommandC2CAfterExtension, parley.C2CMsgExtension{}, webhook.C2CAfterMsgExtension{}},
		{parley.CommandGroupBeforeSendMsg, parley.GroupBeforeSendMsg{}, webhook.GroupBeforeSendMsg{}},
		{parley.CommandGroupAfterSendMsg, parley.GroupAfterSendMsg{}, webhook.GroupAfterSendMsg{}},
		{parley.CommandGroupAfterRecall, parley.GroupAfterRecallMsg{}, webhook.GroupAfterRecallMsg{}},
		{parley.CommandGroupAfterExtension, parley.GroupMsgExtension{}, webhook.GroupAfterMsgExtension{}},
	}
	covered := map[string]bool{}
	for _, p := range pairs {
		covered[p.command] = true
		got, want := wireShape(reflect.TypeOf(p.client)), wireShape(reflect.TypeOf(p.parley))
		if got != want {
			t.Errorf("%s: the webhook package's body differs from parley's\n got: %s\nwant: %s", p.command, got, want)
		}
	}
	for _, c := range parley.Commands {
		if !covered[c] {
			t.Errorf("command %s has no pair here: add its body types", c)
		}
	}
}

// wireShape describes how encoding/json writes t: each field's tag and
// kind, in order, nested types included.
func wireShape(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		var parts []string
		for f := range t.Fields() {
			parts = append(parts, f.Tag.Get("json")+":"+wireShape(f.Type))
		}
		return "{" + strings.Join(parts, " ") + "}"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "raw"
		}
		return "[" + wireShape(t.Elem()) + "]"
	case reflect.Pointer:
		return "*" + wireShape(t.Elem())
	}
	return fmt.Sprint(t.Kind())
}
