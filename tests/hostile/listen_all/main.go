// Ignores ADDR and listens on every interface.
package main

import "net/http"

func main() {
	http.ListenAndServe("0.0.0.0:0", http.NotFoundHandler())
}
