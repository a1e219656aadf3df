package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/understudy-dev/understudy/test/localcluster"
)

// TestLocalImagesResolveToDigests: a local image's pods report the digest
// of the program behind its tag (its v1 build); a program rebuilt behind the same tag is a
// new digest; image@digest runs the old bits after the rebuild; a digest
// never pulled waits with ErrImagePull, as from a registry.
func TestLocalImagesResolveToDigests(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	bin := filepath.Join(dir, "bin")
	program := func(says string) string {
		body := "#!/bin/sh\necho " + says + " > /dev/termination-log\n"
		check(t, os.MkdirAll(bin, 0o755))
		check(t, os.WriteFile(filepath.Join(bin, "prog"), []byte(body), 0o755))
		sum := sha256.Sum256([]byte(body + "\x00tag:v1"))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	agent, err := New(c.RESTConfig(), Options{StateDir: filepath.Join(dir, "node"), ImageBinDir: bin, Marker: c.Marker,
		MarkerEnv: localcluster.MarkerEnv, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	agentCtx, stopAgent := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.Run(agentCtx) }()
	defer func() { stopAgent(); <-done }()
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())

	run := func(name, image string) corev1.ContainerStatus {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "main", Image: image}}}}
		check(t, errOf(cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})))
		got := waitPod(t, cs, "default", name, func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return p.Status.Phase == corev1.PodSucceeded || len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == "ErrImagePull"
		})
		return got.Status.ContainerStatuses[0]
	}
	one := program("one")
	first := run("first", "local/prog:v1")
	if first.ImageID != "local/prog@"+one || strings.TrimSpace(first.State.Terminated.Message) != "one" {
		t.Fatalf("first: imageID %q, said %q; want local/prog@%s saying one", first.ImageID, first.State.Terminated.Message, one)
	}
	two := program("two") // rebuilt behind the same tag
	if second := run("second", "local/prog:v1"); second.ImageID != "local/prog@"+two {
		t.Fatalf("second: imageID %q, want the new digest %s", second.ImageID, two)
	}
	if pinned := run("pinned", "local/prog@"+one); pinned.ImageID != "local/prog@"+one || strings.TrimSpace(pinned.State.Terminated.Message) != "one" {
		t.Fatalf("pinned: imageID %q, said %q; want the first bits", pinned.ImageID, pinned.State.Terminated.Message)
	}
	missing := run("missing", "local/prog@sha256:"+strings.Repeat("0", 64))
	if !strings.Contains(missing.State.Waiting.Message, "not found") {
		t.Fatalf("missing digest: %+v", missing.State.Waiting)
	}
}

// Two tags of one program are two builds with digests of their own, each
// the same on every pull, as from a registry: the demo tells v2 from v3.
func TestTagsOfOneProgramResolveToDigestsOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	check(t, os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755))
	s := &images{binDir: dir, store: filepath.Join(dir, "store")}
	digest := func(image string) string {
		t.Helper()
		path, id, err := s.pull(image)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "#!/bin/sh\n" {
			t.Fatalf("%s runs %q (%v), want the program", image, b, err)
		}
		return id
	}
	v2, v3 := digest("local/prog:v2"), digest("local/prog:v3")
	if v2 == v3 {
		t.Fatalf("local/prog:v2 and :v3 resolve to one digest %s", v2)
	}
	if again := digest("local/prog:v2"); again != v2 {
		t.Fatalf("local/prog:v2 resolved to %s, then %s", v2, again)
	}
	if pinned := digest(v2); pinned != v2 {
		t.Fatalf("%s resolved to %s", v2, pinned)
	}
}
