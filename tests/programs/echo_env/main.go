// Prints the database addresses it was given, then serves on ADDR until stopped: the
// engine tests' stand-in for a lesson's program that talks to PostgreSQL and Redis.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Println("DATABASE_URL=" + os.Getenv("DATABASE_URL"))
	fmt.Println("REDIS_ADDR=" + os.Getenv("REDIS_ADDR"))
	http.ListenAndServe(os.Getenv("ADDR"), http.NotFoundHandler())
}
