package s3test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The server authenticates: its identity's key reads and writes, any other
// signature is refused, as the refresh tests' wrong-credentials fault needs.
func TestServerAuthenticatesRequests(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ctx := context.Background()
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint %s is not on loopback", s.Endpoint)
	}
	if err := s.CreateBucket(ctx, "auth"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "auth", "a/b.txt", []byte("hello"), map[string]string{"sha256": "x"}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	_ = out.Body.Close()
	if string(body) != "hello" || out.Metadata["sha256"] != "x" {
		t.Errorf("read back %q, metadata %v", body, out.Metadata)
	}
	_, err = s.ClientWith(s.AccessKeyID, "wrong").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("auth")})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("a wrong secret key: %v, want SignatureDoesNotMatch", err)
	}
}

// A missing binary is an error that says what to run, never a skip.
func TestMissingBinarySaysWhatToRun(t *testing.T) {
	t.Setenv("SEAWEEDFS", "/nonexistent/weed")
	if _, err := Start(); err == nil || !strings.Contains(err.Error(), "make seaweedfs") {
		t.Fatalf("Start with a missing binary = %v, want an error naming make seaweedfs", err)
	}
}
