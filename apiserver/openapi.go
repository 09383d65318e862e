package apiserver

import (
	"net/http"
	"sync"

	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/mux"
	"k8s.io/apiserver/pkg/server/routes"
	openapicommon "k8s.io/kube-openapi/pkg/common"

	"github.com/kubeshim/kubeshim/apis"
	"github.com/kubeshim/kubeshim/apis/openapi"
)

// openAPIConfigs returns the OpenAPI v2 and v3 configurations. The definition namer sees only
// the external versions: with the __internal registrations it would advertise a bogus
// version in x-kubernetes-group-version-kind.
func openAPIConfigs() (*openapicommon.Config, *openapicommon.OpenAPIV3Config) {
	namer := openapinamer.NewDefinitionNamer(apis.ExternalScheme)
	v2 := genericapiserver.DefaultOpenAPIConfig(openapi.GetOpenAPIDefinitions, namer)
	v2.Info.Title = "Kubernetes"
	v2.Info.Version = "v" + KubernetesVersion
	v3 := genericapiserver.DefaultOpenAPIV3Config(openapi.GetOpenAPIDefinitions, namer)
	v3.Info.Title = "Kubernetes"
	v3.Info.Version = "v" + KubernetesVersion
	return v2, v3
}

// installLazyOpenAPI serves /openapi/v2 and /openapi/v3 with the generic server's own
// handlers, built on the first request to each rather than in PrepareRun: the two specs
// hold ~8 MiB of heap that a server nobody asks for OpenAPI never needs (kubectl since 1.27
// reads v3 only, client-go programs neither). Call it once every API group is installed,
// with the server's OpenAPI installation skipped (SkipOpenAPIInstallation).
func installLazyOpenAPI(s *genericapiserver.GenericAPIServer, v2 *openapicommon.Config, v3 *openapicommon.OpenAPIV3Config) {
	// The v3 definitions were needed to build the models of the installed groups (for
	// server-side apply); the v3 builder calls GetDefinitions again when it runs.
	v3.Definitions = nil
	container := s.Handler.GoRestfulContainer
	v2Handler := &lazyHandler{install: func(m *mux.PathRecorderMux) {
		routes.OpenAPI{Config: v2}.InstallV2(container, m)
	}}
	v3Handler := &lazyHandler{install: func(m *mux.PathRecorderMux) {
		routes.OpenAPI{V3Config: v3}.InstallV3(container, m)
	}}
	s.Handler.NonGoRestfulMux.Handle("/openapi/v2", v2Handler)
	s.Handler.NonGoRestfulMux.Handle("/openapi/v3", v3Handler)
	s.Handler.NonGoRestfulMux.HandlePrefix("/openapi/v3/", v3Handler)
}

// lazyHandler runs install into a mux of its own on the first request, then serves every
// request from that mux.
type lazyHandler struct {
	install func(*mux.PathRecorderMux)
	once    sync.Once
	mux     *mux.PathRecorderMux
}

func (h *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() {
		m := mux.NewPathRecorderMux("openapi")
		h.install(m)
		h.mux = m
	})
	h.mux.ServeHTTP(w, r)
}
