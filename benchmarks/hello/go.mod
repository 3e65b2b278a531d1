module gopitfalls/benchmarks/hello

go 1.27
