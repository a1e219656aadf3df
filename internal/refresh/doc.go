// Package refresh is the PostgreSQL refresh runner: it restores the newest
// production backup (or a live dump) into a side database next to a dev
// database, sanitises and masks it (internal/masking decides how), and
// swaps it in by rename, keeping previous copies
// and never leaving the target broken. cmd/refresh-runner is its command.
package refresh
