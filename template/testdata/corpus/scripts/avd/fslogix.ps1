$ErrorActionPreference = "Stop"
$url = "https://aka.ms/fslogix_download"
Invoke-WebRequest -Uri $url -OutFile "$env:TEMP\\fslogix.zip"
Expand-Archive "$env:TEMP\\fslogix.zip" -DestinationPath "$env:TEMP\\fslogix"
Start-Process "$env:TEMP\\fslogix\\x64\\Release\\FSLogixAppsSetup.exe" -ArgumentList "/install /quiet /norestart" -Wait
