package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const (
	// StorageClassName is the default StorageClass the agent provisions.
	StorageClassName = "local-dir"
	provisionerName  = "understudy.dev/local-dir"
)

// ensureStorageClass creates the default StorageClass whose claims the agent
// provisions as directories in its state dir.
func (a *Agent) ensureStorageClass(ctx context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	_, err := a.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create storage class: %w", err)
	}
	return nil
}

// setupProvisioner watches claims and gives each pending claim of the local
// class (or of the empty class) a hostPath PersistentVolume pre-bound to it;
// the controller manager's binder completes the binding.
func (a *Agent) setupProvisioner(ctx context.Context, f informers.SharedInformerFactory) error {
	inf := f.Core().V1().PersistentVolumeClaims().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.provision(ctx, o) },
		UpdateFunc: func(_, o any) { a.provision(ctx, o) },
	})
	return err
}

func (a *Agent) provision(ctx context.Context, obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending {
		return
	}
	class := ptr.Deref(pvc.Spec.StorageClassName, "")
	if class != StorageClassName && class != "" {
		return
	}
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(a.opts.StateDir, "volumes", name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		a.opts.Log.Error(err, "cannot provision claim", "claim", pvc.Namespace+"/"+pvc.Name)
		return
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes: modes, StorageClassName: class, VolumeMode: pvc.Spec.VolumeMode,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir},
			},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
		},
	}
	_, err := a.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
		a.opts.Log.Error(err, "cannot create volume for claim", "claim", pvc.Namespace+"/"+pvc.Name)
	}
}
