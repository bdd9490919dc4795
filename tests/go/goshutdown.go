// A Go server that stops gracefully on its own: on SIGTERM it calls
// srv.Shutdown (closes its listener, waits for the requests in progress,
// closes idle connections) and exits 0 once that returned. GET /slow takes
// 1 s; every answer is "go-shutdown". Built with CGO_ENABLED=0 for the
// `lameduck --supervise` tests: a static binary no preload can enter.
//
// usage: goshutdown PORT
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
		fmt.Fprintln(w, "go-shutdown")
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: mux}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		<-term
		log.Print("SIGTERM: shutting down")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Fatalf("shutdown: %v", err)
		}
		close(stopped)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-stopped
	log.Print("shut down")
	os.Exit(0)
}
