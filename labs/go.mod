// The labs programs, one package main per folder. Their module path lies under the
// samples' (gopitfalls/samples), so they may use its internal packages (the course's
// PostgreSQL and Redis clients), found through the replace below: nothing is downloaded.
module gopitfalls/samples/labs

go 1.27

require gopitfalls/samples v0.0.0

replace gopitfalls/samples => ../go-samples
