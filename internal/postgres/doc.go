// Package postgres holds small, reusable PostgreSQL helpers shared by the
// refresh runner and the database side of blue/green releases: connection
// settings read from environment variables (filled from Secrets), safe
// identifier and literal quoting, marker comments that say which databases
// understudy created, listing, creating, renaming and dropping databases,
// ending sessions, and running PostgreSQL's own client programs with the
// password passed through the environment, never in arguments.
package postgres
