module early/localeenv

go 1.21
