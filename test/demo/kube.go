package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/understudy-dev/understudy/test/pgtest"
	"github.com/understudy-dev/understudy/test/poll"
)

// kubectl runs kubectl against the demo cluster from the module root.
type kubectl struct {
	path, kubeconfig, root string
}

// newKubectl uses the kubectl built with the cluster (`make cluster-tools`),
// never the machine's: that one may be outside kubectl's supported skew.
func newKubectl(assets, kubeconfig, root string) kubectl {
	return kubectl{path: filepath.Join(assets, "kubectl"), kubeconfig: kubeconfig, root: root}
}

func (k kubectl) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, k.path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig)
	cmd.Dir = k.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// installCRDs applies the CRDs server-side and waits until they are served.
func (k kubectl) installCRDs(ctx context.Context) error {
	if _, err := k.run(ctx, "apply", "--server-side", "-f", "config/crd/bases"); err != nil {
		return err
	}
	return poll.Wait(ctx, pollEvery, time.Minute, func() error {
		_, err := k.run(ctx, "wait", "--for=condition=Established", "--timeout=5s", "-f", "config/crd/bases")
		return err
	})
}

// createDatabaseAccess creates what the manifests reference but cannot
// carry: the Secrets with the generated credentials and the
// PersistentVolume over the backups directory.
func createDatabaseAccess(ctx context.Context, cs kubernetes.Interface, pg *pgtest.Server, roles appRoles, backupDir string) error {
	for _, ns := range []string{"prod", "dev"} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot create namespace %s: %w", ns, err)
		}
	}
	secrets := []struct{ ns, name, user, password string }{
		{"prod", "service0-db", pg.User, pg.Password},
		{"prod", "service0-db-app", prodApp, roles[prodApp]},
		{"dev", "service0-dev-admin", pg.User, pg.Password},
		{"dev", "service0-dev-app", devApp, roles[devApp]},
	}
	for _, sec := range secrets {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: sec.name, Namespace: sec.ns},
			StringData: map[string]string{"host": pg.Host, "port": strconv.Itoa(pg.Port),
				"username": sec.user, "password": sec.password, "sslmode": "disable"},
		}
		if _, err := cs.CoreV1().Secrets(sec.ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("cannot create Secret %s/%s: %w", sec.ns, sec.name, err)
		}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "service0-backups"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: backupDir}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: "dev", Name: "service0-backups"},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot create the backups PersistentVolume: %w", err)
	}
	return nil
}

// pollEvery is how often the demo looks again at what it waits for.
const pollEvery = 500 * time.Millisecond
