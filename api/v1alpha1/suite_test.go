package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/understudy-dev/understudy/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

const siteYAML = `
apiVersion: deploy.understudy.dev/v1alpha1
kind: SiteDeployment
metadata: {name: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: web, image: shop:1}]
  service:
    ports: [{name: http, port: 80, targetPort: 8080}]
  strategy:
    previewReplicas: 1
    preview:
      env: [{name: MAIL_ENABLED, value: "false"}]
      annotations: {example.com/outgoing-mail: "off"}
    prePromotion:
      template:
        spec:
          containers: [{name: smoke, image: curl:8}]
  database:
    connectionSecretRef: {name: shop-db-admin}
    name: shop
    schemaRevision: "1"
  promotion:
    upstreams: [{namespace: staging, name: shop}, {name: shop-dev}]
    minLiveDuration: 1h
`

const refreshYAML = `
apiVersion: deploy.understudy.dev/v1alpha1
kind: DatabaseRefresh
metadata: {name: shop-dev}
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Berlin
  source:
    database:
      connectionSecretRef: {name: shop-replica}
      name: shop
  target:
    connectionSecretRef: {name: shop-dev-admin}
    name: shop_dev
  sanitize:
  - sql: "UPDATE users SET email = 'x@example.invalid'"
  masking:
    tables:
    - name: public.users
      keep: [id, created]
      mask:
      - {column: email, builtin: Email}
      - {column: note, sql: "'note ' || id"}
    - name: public.audit_log
      truncate: true
`

func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("cannot parse manifest: %v", err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("cannot create namespace: %v", err)
	}
	return name
}
