package v1alpha1

// MaskBuiltin is a ready-made mask. Each keeps NULLs NULL and gives every
// other row a value of its own (numbered by its row in the copy), so NOT
// NULL and UNIQUE constraints stay valid:
//   - Email: user_<n>@example.invalid (a domain that never receives mail);
//   - Name: User <n>;
//   - Phone: +990 and <n> padded to 11 digits (+990 is an unassigned
//     country code: no real phone is ever dialled);
//   - SetNull: NULL (refused on a NOT NULL column). Not "Null", which
//     YAML reads as null.
//
// +kubebuilder:validation:Enum=Email;Name;Phone;SetNull
type MaskBuiltin string

// Built-in masks.
const (
	MaskEmail MaskBuiltin = "Email"
	MaskName  MaskBuiltin = "Name"
	MaskPhone MaskBuiltin = "Phone"
	MaskNull  MaskBuiltin = "SetNull"
)

// MaskingPolicy classifies every column of every restored table: kept as
// it is, masked, or its table truncated. Before the swap the runner
// compares it with the restored schema; a column it does not classify, or
// a table or column it names that the copy does not have, fails the
// refresh and dev keeps its previous copy. Masking runs after the sanitize
// SQL, in one transaction.
type MaskingPolicy struct {
	// Tables are the restored tables (partitioned tables cover their
	// partitions), each named schema.table.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=400
	// +required
	Tables []TableMasking `json:"tables"`
}

// TableMasking is the policy of one table: truncate it, or list each of its
// columns under keep or mask.
// +kubebuilder:validation:XValidation:rule="(has(self.truncate) && self.truncate) != (has(self.keep) || has(self.mask))",message="each spec.masking.tables entry sets truncate: true, or lists its columns under keep and mask, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.keep) || !has(self.mask) || self.mask.all(m, !(m.column in self.keep))",message="a column is listed under both keep and mask: choose one"
type TableMasking struct {
	// Name is schema.table, e.g. public.users (as stored: case matters).
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:Pattern=`^[^.]+\.[^.]+$`
	// +required
	Name string `json:"name"`

	// Truncate empties the table in the copy (it stays, with its columns
	// and constraints, so the application's queries still work). Tables
	// with foreign keys to it must be truncated too.
	// +optional
	Truncate bool `json:"truncate,omitempty"`

	// Keep lists the columns copied as they are.
	// +listType=set
	// +kubebuilder:validation:MaxItems=200
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Keep []string `json:"keep,omitempty"`

	// Mask lists the columns whose values are replaced.
	// +listType=map
	// +listMapKey=column
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Mask []ColumnMask `json:"mask,omitempty"`
}

// ColumnMask replaces the values of one column: a built-in, or an SQL
// expression evaluated per row (it may use the row's other columns, as
// they were before masking).
// +kubebuilder:validation:XValidation:rule="has(self.builtin) != has(self.sql)",message="each mask sets exactly one of builtin or sql"
type ColumnMask struct {
	// Column name (as stored: case matters).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Column string `json:"column"`

	// Builtin is a ready-made mask that keeps NOT NULL and UNIQUE valid.
	// +optional
	Builtin MaskBuiltin `json:"builtin,omitempty"`

	// SQL is an expression giving the new value, e.g.
	// 'note ' || id or left(zip, 2) || 'xxx'.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	SQL string `json:"sql,omitempty"`
}

// MaskingCheck is what the runner found comparing spec.masking with the
// restored schema. The lists are bounded; the counts are not.
type MaskingCheck struct {
	// Columns is how many columns of restored tables were compared.
	// +optional
	Columns int32 `json:"columns,omitempty"`
	// Unclassified are columns (schema.table.column) the policy does not
	// classify, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Unclassified []string `json:"unclassified,omitempty"`
	// UnclassifiedCount is how many columns are unclassified.
	// +optional
	UnclassifiedCount int32 `json:"unclassifiedCount,omitempty"`
	// Unknown are tables and columns the policy names that the restored
	// schema does not have, at most 20.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Unknown []string `json:"unknown,omitempty"`
	// UnknownCount is how many names of the policy are unknown.
	// +optional
	UnknownCount int32 `json:"unknownCount,omitempty"`
}
