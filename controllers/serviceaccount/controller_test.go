package serviceaccount

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// createdServiceAccounts lists "namespace/name" of every service account create call.
func createdServiceAccounts(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
			sa := a.(clienttesting.CreateAction).GetObject().(*corev1.ServiceAccount)
			out = append(out, a.GetNamespace()+"/"+sa.Name)
		}
	}
	return out
}

func TestSyncNamespace(t *testing.T) {
	terminatingErr := apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "default", errors.New("namespace is being terminated"))
	terminatingErr.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}

	tests := []struct {
		name        string
		namespaces  []*corev1.Namespace
		accounts    []*corev1.ServiceAccount
		createErr   error
		wantCreated []string
		wantErr     bool
	}{
		{
			name:        "new active namespace gets default",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			wantCreated: []string{"team/default"},
		},
		{
			name:        "other service accounts do not count",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			accounts:    []*corev1.ServiceAccount{serviceAccount("team", "builder"), serviceAccount("other", "default")},
			wantCreated: []string{"team/default"},
		},
		{
			name:       "default already there",
			namespaces: []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			accounts:   []*corev1.ServiceAccount{serviceAccount("team", "default")},
		},
		{
			name:       "terminating namespace gets nothing",
			namespaces: []*corev1.Namespace{namespace("team", corev1.NamespaceTerminating)},
		},
		{
			name: "namespace gone",
		},
		{
			name:        "created meanwhile by someone else",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   apierrors.NewAlreadyExists(schema.GroupResource{Resource: "serviceaccounts"}, "default"),
			wantCreated: []string{"team/default"},
		},
		{
			name:        "namespace began terminating meanwhile",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   terminatingErr,
			wantCreated: []string{"team/default"},
		},
		{
			name:        "create failure is retried",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   apierrors.NewInternalError(errors.New("boom")),
			wantCreated: []string{"team/default"},
			wantErr:     true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tc.createErr != nil {
				client.PrependReactor("create", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, tc.createErr
				})
			}
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := New(client, factory)
			if err != nil {
				t.Fatal(err)
			}
			defer c.queue.ShutDown()
			for _, ns := range tc.namespaces {
				if err := c.nsInformer.GetIndexer().Add(ns); err != nil {
					t.Fatal(err)
				}
			}
			for _, sa := range tc.accounts {
				if err := c.saInformer.GetIndexer().Add(sa); err != nil {
					t.Fatal(err)
				}
			}

			err = c.syncNamespace(context.Background(), "team")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := createdServiceAccounts(client); !slices.Equal(got, tc.wantCreated) {
				t.Errorf("created %v, want %v", got, tc.wantCreated)
			}
		})
	}
}

func TestEventHandlersQueueNamespaces(t *testing.T) {
	tests := []struct {
		name  string
		event func(c *Controller)
		want  []string
	}{
		{"namespace added", func(c *Controller) { c.namespaceChanged(namespace("team", corev1.NamespaceActive)) }, []string{"team"}},
		{"default deleted", func(c *Controller) { c.serviceAccountDeleted(serviceAccount("team", "default")) }, []string{"team"}},
		{"default deleted, seen late", func(c *Controller) {
			c.serviceAccountDeleted(cache.DeletedFinalStateUnknown{Key: "team/default", Obj: serviceAccount("team", "default")})
		}, []string{"team"}},
		{"other account deleted", func(c *Controller) { c.serviceAccountDeleted(serviceAccount("team", "builder")) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			c, err := New(client, informers.NewSharedInformerFactory(client, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer c.queue.ShutDown()
			tc.event(c)
			var got []string
			for c.queue.Len() > 0 {
				key, _ := c.queue.Get()
				got = append(got, key)
				c.queue.Done(key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRunMaintainsDefaultServiceAccount(t *testing.T) {
	client := fake.NewClientset(namespace("existing", corev1.NamespaceActive))
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	done := make(chan struct{})
	go func() {
		c.Run(ctx, 1)
		close(done)
	}()

	poll := func(what string, cond func() bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return cond(), nil
		})
		if err != nil {
			t.Fatalf("%s: %v (created so far: %v)", what, err, createdServiceAccounts(client))
		}
	}
	exists := func(ns string) bool {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}
	watching := func(resource string) bool {
		for _, a := range client.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == resource {
				return true
			}
		}
		return false
	}

	poll("default in existing namespace", func() bool { return exists("existing") })
	poll("informers watching", func() bool { return watching("namespaces") && watching("serviceaccounts") })

	// Namespaces created while running: the terminating one first, so the single worker has
	// handled it by the time the active one has its account.
	for _, ns := range []*corev1.Namespace{namespace("closing", corev1.NamespaceTerminating), namespace("fresh", corev1.NamespaceActive)} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	poll("default in new namespace", func() bool { return exists("fresh") })
	if exists("closing") {
		t.Error("default service account created in a terminating namespace")
	}

	if err := client.CoreV1().ServiceAccounts("existing").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("default re-created after deletion", func() bool { return exists("existing") })
	want := []string{"existing/default", "fresh/default", "existing/default"}
	if got := createdServiceAccounts(client); !slices.Equal(got, want) {
		t.Errorf("created %v, want %v", got, want)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
