// Package bench holds understudy's benchmarks (`make bench`): the
// blue/green switch on a real API server and the database refresh on a real
// PostgreSQL server. Each prints its figures beside a baseline measured in
// the same run, since absolute times drift on shared machines.
package bench
