module github.com/wxtoken/wxtoken

go 1.26.8
