package postgres

import (
	"strings"
	"testing"
)

func TestSplitSettingList(t *testing.T) {
	for in, want := range map[string][]string{
		`"$user", public`:    {"$user", "public"},
		`a,"b ""c"", d", e`:  {"a", `b "c", d`, "e"},
		``:                   nil,
		`  spaced , "x y"  `: {"spaced", "x y"},
		`"unterminated`:      {"unterminated"},
	} {
		if got := splitSettingList(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("splitSettingList(%q) = %q, want %q", in, got, want)
		}
	}
}
