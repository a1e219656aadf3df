package masking

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Built-in masks (the values of Mask.Builtin, as the API spells them).
const (
	BuiltinEmail = "Email"
	BuiltinName  = "Name"
	BuiltinPhone = "Phone"
	BuiltinNull  = "SetNull"
)

// Policy is spec.masking as the runner reads it from its JSON file.
type Policy struct {
	Tables []Table `json:"tables"`
}

// Table is the policy of one table, named schema.table.
type Table struct {
	Name     string   `json:"name"`
	Truncate bool     `json:"truncate,omitempty"`
	Keep     []string `json:"keep,omitempty"`
	Mask     []Mask   `json:"mask,omitempty"`
}

// Mask replaces one column's values: a built-in or an SQL expression.
type Mask struct {
	Column  string `json:"column"`
	Builtin string `json:"builtin,omitempty"`
	SQL     string `json:"sql,omitempty"`
}

// ReadPolicy reads a policy file. A file that is missing or does not parse
// is an error: a refresh asked to mask never goes ahead without masking.
func ReadPolicy(path string) (*Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the masking policy: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("cannot parse the masking policy %s: %w", path, err)
	}
	if len(p.Tables) == 0 {
		return nil, fmt.Errorf("the masking policy %s lists no table", path)
	}
	return &p, nil
}

// splitName splits schema.table at its dot (the API allows exactly one).
func splitName(name string) (schema, table string, ok bool) {
	schema, table, ok = strings.Cut(name, ".")
	return schema, table, ok && schema != "" && table != "" && !strings.Contains(table, ".")
}
