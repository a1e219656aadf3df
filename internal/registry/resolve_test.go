package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/understudy-dev/understudy/internal/registry"
	"github.com/understudy-dev/understudy/test/regtest"
)

func TestResolveFollowsTheTagAsPushed(t *testing.T) {
	reg := regtest.Start(t, "", "")
	image, first := reg.Push(t, "site", "v1")
	r := &registry.Resolver{}
	got, err := r.Resolve(context.Background(), []registry.Image{{Container: "web", Image: image}}, nil)
	if err != nil || len(got) != 1 || got[0].Digest != first || got[0].Container != "web" {
		t.Fatalf("resolved %+v, %v; want web at %s", got, err, first)
	}
	_, second := reg.Push(t, "site", "v1") // the tag pushed again
	got, err = r.Resolve(context.Background(), []registry.Image{{Container: "web", Image: image}}, nil)
	if err != nil || got[0].Digest != second || second == first {
		t.Fatalf("after the push resolved %+v, %v; want the new digest %s", got, err, second)
	}
}

func TestResolveUsesThePullSecrets(t *testing.T) {
	reg := regtest.Start(t, "puller", "s3cret")
	image, digest := reg.Push(t, "private/site", "v1")
	r := &registry.Resolver{}
	images := []registry.Image{{Container: "web", Image: image}}
	if _, err := r.Resolve(context.Background(), images, nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("without a pull secret: %v; want the registry's refusal", err)
	}
	got, err := r.Resolve(context.Background(), images, []corev1.Secret{*reg.PullSecret("ns", "pull")})
	if err != nil || got[0].Digest != digest {
		t.Fatalf("with the pull secret: %+v, %v; want %s", got, err, digest)
	}
}

func TestResolveFailsTheSetOnAMissingTag(t *testing.T) {
	reg := regtest.Start(t, "", "")
	image, _ := reg.Push(t, "site", "v1")
	r := &registry.Resolver{}
	_, err := r.Resolve(context.Background(), []registry.Image{{Container: "web", Image: image},
		{Container: "worker", Image: reg.Host + "/site:v9"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "site:v9") {
		t.Fatalf("a missing tag: %v; want an error naming it", err)
	}
}

func TestAnUnreachableRegistryIsNotAskedAgainAtOnce(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := &registry.Resolver{Timeout: 2 * time.Second, Backoff: time.Minute, Now: func() time.Time { return now }}
	images := []registry.Image{{Container: "web", Image: "127.0.0.1:1/site:v1"}} // nothing listens on port 1
	_, err := r.Resolve(context.Background(), images, nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
	_, err = r.Resolve(context.Background(), images, nil)
	if err == nil || !strings.Contains(err.Error(), "not asked again until 2026-12-07T12:01:00Z") {
		t.Fatalf("asked again within the backoff: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err = r.Resolve(context.Background(), images, nil); err == nil || strings.Contains(err.Error(), "not asked again") {
		t.Fatalf("after the backoff: %v; want it asked (and failing) again", err)
	}
}
