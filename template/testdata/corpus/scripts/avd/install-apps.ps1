$ErrorActionPreference = "Stop"
New-Item -ItemType Directory -Force -Path C:\\apps | Out-Null
Write-Host "installing line-of-business apps"
