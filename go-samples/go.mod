module gopitfalls/samples

go 1.27
