package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/understudy-dev/understudy/test/proctest"
)

// Server is a running SeaweedFS with an S3 gateway.
type Server struct {
	// Endpoint is the S3 API's URL (http://127.0.0.1:<port>).
	Endpoint string
	// AccessKeyID and SecretAccessKey are an admin identity's key.
	AccessKeyID, SecretAccessKey string
	// Region is what clients sign with (SeaweedFS accepts any).
	Region string
	// CAFile, for a server started by StartTLS, is the PEM certificate
	// that signs (and is) the gateway's certificate for 127.0.0.1.
	CAFile string

	dir string
	// grpcPorts name the unix sockets weed leaves in /tmp whatever TMPDIR.
	grpcPorts []int
	cmd       *exec.Cmd
	done      chan error
	log       string
}

// Binary finds the weed binary: $SEAWEEDFS, else the newest
// bin/seaweedfs-*/weed of the repository.
func Binary() (string, error) {
	if p := os.Getenv("SEAWEEDFS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SEAWEEDFS is %s, which does not exist: run make seaweedfs", p)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	found, _ := filepath.Glob(filepath.Join(root, "bin", "seaweedfs-*", "weed"))
	if len(found) == 0 {
		return "", errors.New("SeaweedFS is not built (no bin/seaweedfs-*/weed, SEAWEEDFS unset): run make seaweedfs")
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

// repoRoot is the directory holding go.mod (two above this file).
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot find the repository root: set SEAWEEDFS")
	}
	return filepath.Join(filepath.Dir(file), "..", ".."), nil
}

// Start starts a server. Call Stop when done.
func Start() (*Server, error) { return startServer(false) }

func startServer(withTLS bool) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a temporary directory: %w", err)
	}
	s := &Server{AccessKeyID: "AK" + random(8), SecretAccessKey: random(20), Region: "us-east-1",
		dir: dir, log: filepath.Join(dir, "weed.log")}
	if err := s.writeIdentities(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if withTLS {
		if err := s.writeCertificate(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	var lastErr error
	for range 3 { // a free port may be taken between finding and binding it
		if lastErr = s.start(bin); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// writeIdentities writes the S3 identities file: one admin identity.
func (s *Server) writeIdentities() error {
	conf := map[string]any{"identities": []any{map[string]any{
		"name":        "test",
		"credentials": []any{map[string]string{"accessKey": s.AccessKeyID, "secretKey": s.SecretAccessKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, _ := json.Marshal(conf)
	return os.WriteFile(filepath.Join(s.dir, "s3.json"), b, 0o600)
}

func (s *Server) start(bin string) error {
	ports, err := freePorts(8)
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"-logtostderr", "server", "-s3",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		"-master.port=" + p(0), "-master.port.grpc=" + p(1), "-master.telemetry=false",
		"-master.volumeSizeLimitMB=256", "-volume.max=16", "-volume.preStopSeconds=0",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-filer.port=" + p(4), "-filer.port.grpc=" + p(5), "-filer.localSocket=" + filepath.Join(s.dir, "filer.sock"),
		"-s3.port=" + p(6), "-s3.port.grpc=" + p(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(s.dir, "s3.sock"),
		"-s3.config=" + filepath.Join(s.dir, "s3.json"),
	}
	s.Endpoint = "http://127.0.0.1:" + p(6)
	if s.CAFile != "" {
		args = append(args, "-s3.cert.file="+s.CAFile, "-s3.key.file="+filepath.Join(s.dir, "key.pem"))
		s.Endpoint = "https://127.0.0.1:" + p(6)
	}
	s.grpcPorts = []int{ports[1], ports[3], ports[5], ports[7]}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open the server log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start SeaweedFS: %w", err)
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	return s.waitReady()
}

// waitReady waits until the gateway answers an authenticated request and a
// bucket can be created (the filer and a volume are up).
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := s.Client()
	for {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("s3test-ready")})
		if err == nil {
			return nil
		}
		select {
		case werr := <-s.done:
			s.cmd = nil
			return fmt.Errorf("SeaweedFS exited (%v) while starting; log:\n%s", werr, s.Log())
		case <-ctx.Done():
			s.stopProcess()
			return fmt.Errorf("SeaweedFS's S3 gateway did not answer within 90 s: %w; log:\n%s", err, s.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Client is an S3 client of the admin identity.
func (s *Server) Client() *s3.Client {
	return s.ClientWith(s.AccessKeyID, s.SecretAccessKey)
}

// ClientWith is a client signing with the given key.
func (s *Server) ClientWith(id, secret string) *s3.Client {
	o := s3.Options{
		Region: s.Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(id, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if hc := s.httpClient(); hc != nil {
		o.HTTPClient = hc
	}
	return s3.New(o)
}

// Log returns the tail of the server's log, for failure messages.
func (s *Server) Log() string { return proctest.Tail(s.log, 4000) }

// Stop stops the server (SIGINT, then kill: a throwaway server need not
// shut down cleanly) and removes its directory.
func (s *Server) Stop() {
	s.stopProcess()
	_ = os.RemoveAll(s.dir)
}

func (s *Server) stopProcess() {
	proctest.Stop(s.cmd, s.done, syscall.SIGINT, 3*time.Second)
	s.cmd = nil
	for _, port := range s.grpcPorts {
		socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-grpc-%d.sock", port))
		for _, sock := range socks {
			_ = os.Remove(sock)
		}
	}
}

// freePorts finds n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// MustStart starts a server for a TestMain, exiting the test binary with a
// clear message when it cannot: tests never skip for a missing SeaweedFS.
func MustStart() *Server {
	s, err := Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3test: cannot start SeaweedFS: %v\n", err)
		os.Exit(1)
	}
	return s
}
