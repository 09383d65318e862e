package apiserver

import (
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
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
