package refresh

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPickBackup(t *testing.T) {
	bk := func(label string, stop int64, failed bool) pgbrBackup {
		b := pgbrBackup{Label: label, Error: &failed}
		b.Timestamp.Start, b.Timestamp.Stop = stop-10, stop
		return b
	}
	backups := []pgbrBackup{bk("F1", 1000, false), bk("F1_D2", 2000, false), bk("F1_I3", 3000, true)}
	at := func(s int64) *time.Time { t := time.Unix(s, 0); return &t }
	for _, tc := range []struct {
		name, set string
		target    *time.Time
		want, err string
	}{
		{"newest without errors", "", nil, "F1_D2", ""},
		{"newest before the target", "", at(1500), "F1", ""},
		{"none before the target", "", at(500), "", "no backup of the stanza ended before"},
		{"by label", "F1", nil, "F1", ""},
		{"by label, even one with errors", "F1_I3", nil, "F1_I3", ""},
		{"unknown label", "F9", nil, "", "there is no backup F9 in the stanza (it has F1, F1_D2, F1_I3)"},
		{"label after the target", "F1_D2", at(1500), "", "after the target time"},
	} {
		b, err := pickBackup(backups, tc.set, tc.target)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) || b.Label != tc.want {
			t.Errorf("%s: picked %q, %v; want %q, %q", tc.name, b.Label, err, tc.want, tc.err)
		}
	}
}

func TestParseInfoSaysWhyAStanzaCannotBeUsed(t *testing.T) {
	for _, tc := range []struct{ info, want string }{
		{`[{"name":"main","status":{"code":1,"message":"missing stanza path"},"repo":[{"status":{"code":1,"message":"missing stanza path"}}]}]`, `stanza "main" is not in the pgBackRest repository (missing stanza path)`},
		{`[{"name":"main","status":{"code":99,"message":"other"},"repo":[{"status":{"code":99,"message":"[PathOpenError] unable to list file info for path '/r/backup': [13] Permission denied"}}]}]`, "Permission denied"},
		{`[{"name":"main","status":{"code":2,"message":"no valid backups"}}]`, "has no valid backup"},
		{`[]`, `stanza "main" is not in the pgBackRest repository`},
		{`not json`, "cannot read pgBackRest's info"},
	} {
		if _, err := parseInfo([]byte(tc.info), "main"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseInfo(%s) = %v, want %q", tc.info, err, tc.want)
		}
	}
}

func TestPgBackRestEnvCarriesTheRepositoryAndKeyOnlyInVariables(t *testing.T) {
	p := PgBackRestOptions{Stanza: "prod", Database: "shop", Role: "postgres", Options: map[string]string{"process-max": "4"},
		S3: &S3Options{Endpoint: "https://s3.example:9443", Region: "eu-central-1", Bucket: "b", Prefix: "pgbr/prod/", PathStyle: true,
			AccessKeyID: "AKID", SecretAccessKey: "SECRET"}}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	env := p.env("/scratch/w")
	for _, want := range []string{"PGBACKREST_STANZA=prod", "PGBACKREST_REPO1_TYPE=s3", "PGBACKREST_REPO1_S3_ENDPOINT=s3.example",
		"PGBACKREST_REPO1_STORAGE_PORT=9443", "PGBACKREST_REPO1_PATH=/pgbr/prod", "PGBACKREST_REPO1_S3_URI_STYLE=path",
		"PGBACKREST_REPO1_S3_KEY=AKID", "PGBACKREST_REPO1_S3_KEY_SECRET=SECRET", "PGBACKREST_PROCESS_MAX=4",
		"PGBACKREST_CONFIG=/scratch/w/pgbackrest.conf", "PGBACKREST_LOCK_PATH=/scratch/w/lock"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %v", want, env)
		}
	}
	p.S3.Endpoint = "http://s3.example"
	if err := p.validate(); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("an http endpoint: %v", err)
	}
	p.S3, p.RepoPath, p.Options = nil, "/repo", map[string]string{"stanza": "x"}
	if err := p.validate(); err == nil || !strings.Contains(err.Error(), "sets this option itself") {
		t.Errorf("a reserved option: %v", err)
	}
}

func TestRestoreArgs(t *testing.T) {
	in := &instance{work: "/scratch/w"}
	p := &PgBackRestOptions{Database: "shop"}
	got := strings.Join(restoreArgs(in, p, "20261207-030001F"), " ")
	if want := "restore --pg1-path=/scratch/w/data --db-include=shop --set=20261207-030001F --target-action=promote --tablespace-map-all=/scratch/w/tablespaces --type=immediate"; got != want {
		t.Errorf("args = %s\nwant %s", got, want)
	}
	target := time.Date(2026, 12, 7, 4, 0, 0, 500000000, time.FixedZone("CET", 3600))
	p.TargetTime = &target
	if got := restoreArgs(in, p, "L"); !slices.Equal(got[len(got)-2:], []string{"--type=time", "--target=2026-12-07 03:00:00.500000+00"}) {
		t.Errorf("with a target time: %v", got)
	}
}
