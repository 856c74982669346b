Remove-Item -Recurse -Force "$env:TEMP\\*" -ErrorAction SilentlyContinue
Remove-Item -Recurse -Force "C:\\Windows\\Temp\\*" -ErrorAction SilentlyContinue
