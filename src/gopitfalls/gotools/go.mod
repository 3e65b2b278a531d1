module gopitfalls/gotools

go 1.27
