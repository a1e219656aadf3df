// Package dbrelease owns the PostgreSQL side of schema-changing blue/green
// releases (SiteDeployment spec.database): freezing the active color's
// database (writes fail with PostgreSQL's read-only error, reads go on),
// copying it into the new color's database (pg_dump -Fd -j N | pg_restore
// -j N, or CREATE DATABASE ... TEMPLATE), reading what the server says about
// a color's database (marker, freeze, the rows its tables were written), and dropping the
// copies beyond retention.
//
// Every operation is idempotent and keeps its progress in the server, not in
// memory, so a manager restarted at any point observes the state and
// continues:
//   - a database's freeze lives in its own settings (pg_db_role_setting):
//     default_transaction_read_only and understudy.frozen_since, so an
//     adopted database's comment is never overwritten;
//   - a copy carries a marker comment (dbstate.Marker, tool Tool) whose
//     role says "copying" until the copy is complete and "copy" after;
//   - before a copy's database is created, the source records the intent in
//     understudy.copying_to, so a copy that was created but not yet marked
//     is still known to be the operator's, and a source whose connections a
//     Template copy refused is let in again by whoever resumes.
//
// A release runs them in this order (the blue/green planner decides, the
// controller calls this package): EnsureDatabase for the first color. For a
// new schema revision, first the rehearsal (spec.database.rehearse, the
// default): MoveAside the new color's old database if there is one; Clone
// the active database into the new color's name with Rehearsal set (a
// pg_dump snapshot while it keeps taking writes, marked RoleRehearsal);
// migrate, start and check the candidate on it. On approval, the cutover
// drops the rehearsal copy (DropCopy), then by
// spec.database.cutover.method either
//   - Copy: Settle the active database (VACUUM and CHECKPOINT while it
//     still takes writes) and, for a Dump copy, PrepareCopy; Freeze it;
//     Clone it into the new color (the final copy, RoleCopy); migrate;
//     start the candidate and switch; Analyze the copy after the switch; or
//   - Replicated: Replicate the active database into the new color while
//     it keeps taking writes (RoleReplica); migrate the replica while it
//     follows, then hold it read-only (Freeze); in the decision that
//     switches, Freeze the active database and CatchUp (the replica marked
//     RoleCopy and writable); after the switch DropReplication.
//
// A release without rehearsal runs the Copy cutover alone, analysing the
// copy before the switch. At the switch the new side's row counters
// (ReadRows) are the baseline of WritesSince; then DropCopies beyond
// retention, keeping the active and previous databases. Failure before the
// switch: DropCopy the new one, Unfreeze the old one. Abort after it:
// Freeze the new one, report WritesSince of it, and Unfreeze the old one.
//
// Only databases carrying the marker are ever dropped; an existing database
// without one is adopted and kept. The admin connection must be a superuser,
// or own the databases, be a member of their owners' roles and have
// CREATEDB and pg_signal_backend.
package dbrelease
