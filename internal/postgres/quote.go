package postgres

import "github.com/understudy-dev/understudy/internal/pgquote"

// QuoteIdent quotes name as an SQL identifier (pgquote.Ident).
func QuoteIdent(name string) string { return pgquote.Ident(name) }

// QuoteLiteral quotes s as an SQL string literal (pgquote.Literal).
func QuoteLiteral(s string) string { return pgquote.Literal(s) }
