package controllers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/dbrelease"
	"github.com/understudy-dev/understudy/internal/postgres"
)

// siteDatabase is what the database step observed and decided for a site
// with spec.database: the database the colors use and whether the release
// in spec must wait.
type siteDatabase struct {
	status *v1.DatabaseStatus
	// blocked, when set, says why a new revision may not start.
	blocked string
}

// reconcileDatabase makes sure the active color database exists and writes
// each color's connection Secret. Releases that keep spec.database.schemaRevision
// share the active database (simple A/B). A release that changes it needs the
// freeze/copy/migrate flow, which is not wired in yet: it is held back with a
// message instead of silently sharing a database across schemas.
func (r *SiteDeploymentReconciler) reconcileDatabase(ctx context.Context, site *v1.SiteDeployment) (*siteDatabase, error) {
	spec := site.Spec.Database
	if spec == nil {
		return nil, nil
	}
	admin, err := r.adminConn(ctx, site)
	if err != nil {
		return nil, err
	}
	st := &v1.DatabaseStatus{ActiveName: spec.Name + "_" + string(v1.Blue), SchemaRevision: spec.SchemaRevision}
	if prev := site.Status.Database; prev != nil && prev.ActiveName != "" {
		st = prev.DeepCopy()
	}
	if _, err := dbrelease.EnsureDatabase(ctx, admin, st.ActiveName, spec.Name, ""); err != nil {
		return nil, fmt.Errorf("cannot prepare database %s: %w", st.ActiveName, err)
	}
	for _, c := range []v1.Color{v1.Blue, v1.Green} {
		if err := r.applyDatabaseSecret(ctx, site, c, admin.WithDatabase(st.ActiveName)); err != nil {
			return nil, err
		}
	}
	out := &siteDatabase{status: st}
	if st.SchemaRevision != spec.SchemaRevision {
		out.blocked = fmt.Sprintf("spec.database.schemaRevision changed from %q to %q: schema-changing releases "+
			"(freeze, copy, migrate) are not available in this version; the release is held and %s keeps serving",
			st.SchemaRevision, spec.SchemaRevision, st.ActiveName)
	}
	return out, nil
}

// adminConn reads the admin connection Secret (keys host, port, username,
// password, sslmode).
func (r *SiteDeploymentReconciler) adminConn(ctx context.Context, site *v1.SiteDeployment) (postgres.Conn, error) {
	name := site.Spec.Database.ConnectionSecretRef.Name
	sec := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, sec); err != nil {
		return postgres.Conn{}, fmt.Errorf("cannot read the database connection Secret %s: %w", name, err)
	}
	c, err := postgres.FromEnv(func(k string) string { return string(sec.Data[k]) },
		postgres.EnvNames{Host: "host", Port: "port", User: "username", Password: "password", SSLMode: "sslmode"})
	if err != nil {
		return postgres.Conn{}, fmt.Errorf("database connection Secret %s: %w", name, err)
	}
	return c, nil
}

// DatabaseSecretName is the Secret with a color's DATABASE_* settings.
func DatabaseSecretName(site string, c v1.Color) string { return site + "-db-" + string(c) }

func (r *SiteDeploymentReconciler) applyDatabaseSecret(ctx context.Context, site *v1.SiteDeployment, c v1.Color, conn postgres.Conn) error {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(conn.User, conn.Password),
		Host: conn.Host + ":" + strconv.Itoa(conn.Port), Path: "/" + conn.Database}
	if conn.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(conn.SSLMode)
	}
	data := map[string][]byte{
		"DATABASE_HOST": []byte(conn.Host), "DATABASE_PORT": []byte(strconv.Itoa(conn.Port)),
		"DATABASE_NAME": []byte(conn.Database), "DATABASE_USER": []byte(conn.User),
		"DATABASE_PASSWORD": []byte(conn.Password), "DATABASE_URL": []byte(u.String()),
	}
	name := DatabaseSecretName(site.Name, c)
	sec := &corev1.Secret{}
	err := r.Reader.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: site.Namespace,
			Labels: map[string]string{v1.LabelSite: site.Name, v1.LabelColor: string(c)}}, Data: data}
		if err := controllerutil.SetControllerReference(site, sec, r.Scheme()); err != nil {
			return err
		}
		if err := r.Create(ctx, sec); err != nil {
			return fmt.Errorf("cannot create Secret %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read Secret %s: %w", name, err)
	}
	if !metaOwnedBy(sec, site) {
		return fmt.Errorf("secret %s exists and is not owned by SiteDeployment %s: rename or delete it", name, site.Name)
	}
	if equalData(sec.Data, data) {
		return nil
	}
	before := sec.DeepCopy()
	sec.Data = data
	if err := r.Patch(ctx, sec, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("cannot update Secret %s: %w", name, err)
	}
	return nil
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// withDatabaseEnv gives every container of a color's pods that color's
// DATABASE_* settings. It is applied when a revision's template is written,
// so it never changes the revision.
func withDatabaseEnv(t *corev1.PodTemplateSpec, site string, c v1.Color) {
	ref := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: DatabaseSecretName(site, c)}}}
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range list {
			list[i].EnvFrom = append(list[i].EnvFrom, ref)
		}
	}
}
