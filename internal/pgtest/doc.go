// Package pgtest starts a real, throwaway PostgreSQL for tests, as
// docs/field-notes.md describes: the newest Debian build under
// /usr/lib/postgresql/*/bin, a cluster made by initdb in a temporary
// directory (owned by the postgres user when the tests run as root, since
// PostgreSQL refuses to run as root), listening on a random free loopback
// port and on a unix socket in that directory, with fsync and
// synchronous_commit on, so that what a commit returns is on disk.
//
// A test binary shares one cluster, started on the first NewDB and
// removed when the binary exits:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.NewDB(t) // a fresh, empty database for this test
//		…
//	}
//
// Fault tests restart, stop or kill the shared cluster (Restart, or
// Shared(t).Kill and Start), or start one of their own with NewCluster.
//
// Without PostgreSQL installed the tests that need it skip, saying so,
// unless TILLGUARD_REQUIRE_POSTGRES=1 (as `make test` sets after `make
// deps` installed it): then they fail.
package pgtest
