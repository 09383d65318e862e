// Command mkimage writes the docker.io/library/busybox:latest and docker.io/library/nginx:latest
// image archives (OCI layout tars that `ctr images import` and `docker load` accept) from the
// host's Debian packages busybox-static and nginx-light:
//
//	go run ./test/images/mkimage -out _output/images
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/kubeshim/kubeshim/test/images"
)

func main() {
	h := images.DefaultHost()
	out := flag.String("out", "_output/images", "directory to write busybox.tar and nginx.tar into")
	flag.StringVar(&h.Busybox, "busybox", h.Busybox, "static busybox binary (Debian package busybox-static)")
	flag.StringVar(&h.Nginx, "nginx", h.Nginx, "nginx binary (Debian package nginx-light)")
	klog.InitFlags(nil)
	flag.Parse()

	written, err := images.Build(*out, h)
	klog.Flush()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	for _, p := range written {
		fmt.Println(p)
	}
}
