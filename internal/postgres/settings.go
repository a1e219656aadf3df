package postgres

import (
	"context"
	"fmt"
	"strings"
)

// listQuoted are the settings whose value is a list of separately quoted
// elements (PostgreSQL's GUC_LIST_QUOTE flag; pg_dump keeps the same list,
// as the flag cannot be queried before PostgreSQL 16).
var listQuoted = map[string]bool{
	"local_preload_libraries": true, "search_path": true, "session_preload_libraries": true,
	"shared_preload_libraries": true, "temp_tablespaces": true, "unix_socket_directories": true,
}

// CopyDatabaseSettings gives database to the database-wide settings of
// from: ALTER DATABASE ... SET, and ALTER ROLE ... IN DATABASE ... SET. A
// copy made with pg_dump or CREATE DATABASE ... TEMPLATE has none of them,
// and an application may depend on them (search_path, a time zone). The
// settings skip names are left out; skip may be nil.
func CopyDatabaseSettings(ctx context.Context, q Querier, from, to string, skip func(name string) bool) error {
	rows, err := q.Query(ctx, `SELECT CASE WHEN s.setrole = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(s.setrole) END, c.setting
		FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase,
		unnest(s.setconfig) AS c(setting) WHERE d.datname = $1 ORDER BY 1`, from)
	if err != nil {
		return fmt.Errorf("cannot read the settings of database %q: %w", from, err)
	}
	var stmts []string
	for rows.Next() {
		var role, setting string
		if err := rows.Scan(&role, &setting); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read the settings of database %q: %w", from, err)
		}
		name, value, _ := strings.Cut(setting, "=")
		if skip != nil && skip(name) {
			continue
		}
		target := "DATABASE " + QuoteIdent(to)
		if role != "" {
			target = "ROLE " + QuoteIdent(role) + " IN " + target
		}
		stmts = append(stmts, "ALTER "+target+" SET "+QuoteIdent(name)+" TO "+settingValue(name, value))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read the settings of database %q: %w", from, err)
	}
	for _, s := range stmts {
		if _, err := q.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot copy a setting of database %q to %q: %w", from, to, err)
		}
	}
	return nil
}

// settingValue writes a stored setting value back as SQL: one literal, or
// one per element of a list-quoted setting (as pg_dump does).
func settingValue(name, value string) string {
	if !listQuoted[strings.ToLower(name)] {
		return QuoteLiteral(value)
	}
	var out []string
	for _, e := range splitSettingList(value) {
		out = append(out, QuoteLiteral(e))
	}
	if len(out) == 0 {
		return "''"
	}
	return strings.Join(out, ", ")
}

// splitSettingList splits a stored list setting ("$user", public) into its
// elements: comma-separated, each bare or double-quoted with "" for a quote.
func splitSettingList(v string) []string {
	var out []string
	for v = strings.TrimSpace(v); v != ""; v = strings.TrimSpace(v) {
		var e string
		if v[0] == '"' {
			i := 1
			for i < len(v) {
				if v[i] == '"' {
					if i+1 < len(v) && v[i+1] == '"' {
						e += `"`
						i += 2
						continue
					}
					break
				}
				e += string(v[i])
				i++
			}
			v = v[min(i+1, len(v)):]
		} else {
			i := strings.IndexByte(v, ',')
			if i < 0 {
				i = len(v)
			}
			e, v = strings.TrimSpace(v[:i]), v[i:]
		}
		out = append(out, e)
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, ",")
	}
	return out
}
