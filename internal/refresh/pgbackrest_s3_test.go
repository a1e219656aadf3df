package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understudy-dev/understudy/test/pgbrtest"
	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/s3test"
)

// A pgBackRest repository in a real S3-compatible bucket (SeaweedFS over
// TLS, which pgBackRest requires): production archives and backs up into
// it, the runner restores from it with the access key given only as
// variables. A wrong secret key then fails the refresh, dev untouched, and
// the key appears in no result.
func TestRefreshFromAPgBackRestRepositoryInS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := s3test.StartTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	repo, err := pgbrtest.NewInS3(ctx, store, "pgbr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Remove)
	prodS3, err := pgtest.Start(pgtest.Options{Settings: repo.ServerSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prodS3.Stop)
	if err := repo.Attach(prodS3); err != nil {
		t.Fatal(err)
	}
	if err := createDBOn(prodS3, "shop", sourceSQL); err != nil {
		t.Fatal(err)
	}
	label, err := repo.Backup("full")
	if err != nil {
		t.Fatal(err)
	}
	want, err := prodS3.Checksums(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}

	// Through the runner's command line, as its pod runs it: the access
	// key only in S3_* variables.
	scratch := openDir(t)
	logPath := filepath.Join(scratch, "termination-log")
	cmd := runnerCmd(t, "--target-db", "pgbr_s3", "--jobs", "2", "--scratch-dir", scratch, "--termination-log", logPath,
		"--pgbackrest-stanza", pgbrtest.Stanza, "--pgbackrest-db", "shop", "--pgbackrest-role", pgtest.Superuser,
		"--s3-endpoint", store.Endpoint, "--s3-region", store.Region, "--s3-bucket", "pgbr", "--s3-prefix", "pgbackrest", "--s3-path-style",
		"--pgbackrest-option", "repo1-storage-ca-file="+repo.CAFile)
	cmd.Env = append(cmd.Env, EnvS3AccessKeyID+"="+store.AccessKeyID, EnvS3SecretAccessKey+"="+store.SecretAccessKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("runner failed: %v\n%s", err, stderr.String())
	}
	res := readResult(t, logPath)
	sameSums(t, "dev after a refresh from a repository in S3", mustChecksums(t, "pgbr_s3"), want)
	if res.Backup == nil || res.Backup.Label != label {
		t.Fatalf("result's backup = %+v, want %s", res.Backup, label)
	}
	if strings.Contains(stdout.String()+stderr.String(), store.SecretAccessKey) {
		t.Error("the S3 secret key appears in the runner's output")
	}

	o := pgbrOpts(t, "", "")
	o.PgBackRest.RepoPath = ""
	o.PgBackRest.S3 = &S3Options{Endpoint: store.Endpoint, Region: store.Region, Bucket: "pgbr", Prefix: "pgbackrest", PathStyle: true,
		AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}
	o.PgBackRest.Options = map[string]string{"repo1-storage-ca-file": repo.CAFile}
	bad := pgbrOpts(t, "", "")
	pb := *o.PgBackRest
	bad.PgBackRest = &pb
	s3o := *o.PgBackRest.S3
	s3o.SecretAccessKey = "wrong-secret-Q4x"
	bad.PgBackRest.S3 = &s3o
	var log strings.Builder
	bad.Stderr = &log
	failingRefresh(t, "pgbr_s3_badkey", bad, "cannot read stanza \"main\" of the pgBackRest repository")
	bad.TargetDB = "pgbr_s3_badkey"
	for what, s := range map[string]string{"the runner's messages": log.String(), "the result": resultJSON(t, Run(ctx, bad))} {
		if strings.Contains(s, "wrong-secret-Q4x") || strings.Contains(s, store.SecretAccessKey) {
			t.Errorf("a secret key appears in %s", what)
		}
	}
}

func resultJSON(t *testing.T, r Result) string {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
