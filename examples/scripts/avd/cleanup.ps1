# Cleans up the AVD golden image before capture, as Microsoft's AVD
# golden-image guide asks (clean up temporary files, remove user profiles
# that are not needed): the build's temporary files. Image Builder removes
# C:\buildArtifacts itself at the end of the build.
$ErrorActionPreference = 'Continue'
Write-Host 'Removing temporary files...'
Get-ChildItem -Path $env:TEMP, 'C:\Windows\Temp' -Force -ErrorAction SilentlyContinue |
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue
Write-Host 'Done.'
