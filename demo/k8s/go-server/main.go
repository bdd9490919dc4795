// The server of demo/k8s/deployment-supervise.yaml: a Go HTTP server as
// many are written, with no signal handling of its own, built with
// CGO_ENABLED=0 (demo/k8s/Dockerfile.go-server). Such a binary is static:
// no dynamic loader runs, so LD_PRELOAD is ignored and the shim can not
// load into it; `lameduck --supervise` gives it the lifecycle from outside.
//
// GET /        answers at once
// GET /slow    answers after 2 s (a request for the drain to wait for)
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
		}
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	// On SIGTERM (the default action) the process ends at once: lameduck
	// sends it only after the delay and the drain.
	log.Fatal(http.ListenAndServe(addr, nil))
}
