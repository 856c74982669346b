#!/usr/bin/env bash
# make deploy NAME=<base name> RG=<resource group> LOCATION=<region> [AIB_RG=<group of the image templates>]
# Deploys goldenpipe into a subscription: infrastructure (pass 1), the code,
# then the Event Grid subscriptions (pass 2), which need the functions to exist.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NAME:?set NAME, the base name of the resources (3-11 lowercase letters and digits)}"
: "${RG:?set RG, the resource group to deploy into}"
: "${LOCATION:?set LOCATION, a region that offers Flex Consumption (az functionapp list-flexconsumption-locations)}"
AIB_RG="${AIB_RG:-$RG}"

if ! az account show --query name -o tsv >/dev/null 2>&1; then
  echo "deploy: sign in first: az login (and az account set --subscription <id>)" >&2
  exit 1
fi
echo "deploy: subscription $(az account show --query name -o tsv)"
# Image Builder needs these resource providers in the subscription
# (Microsoft.ContainerInstance for isolated builds); registering an
# already-registered provider changes nothing
for ns in Microsoft.VirtualMachineImages Microsoft.Compute Microsoft.Storage Microsoft.Network Microsoft.KeyVault Microsoft.ContainerInstance Microsoft.ManagedIdentity Microsoft.Web Microsoft.ServiceBus Microsoft.EventGrid; do
  state=$(az provider show --namespace "$ns" --query registrationState -o tsv 2>/dev/null || echo NotRegistered)
  if [ "$state" != "Registered" ]; then
    echo "deploy: registering the resource provider $ns"
    az provider register --namespace "$ns" --wait --output none
  fi
done
# the custom-handler runtime on Flex Consumption: checked against the list Azure publishes
if ! az functionapp list-flexconsumption-runtimes --location "$LOCATION" --runtime custom --query "[0].version" -o tsv >/dev/null 2>&1; then
  echo "deploy: warning: could not confirm that $LOCATION offers the custom runtime on Flex Consumption (az functionapp list-flexconsumption-runtimes --location $LOCATION --runtime custom)" >&2
fi
az group create --name "$RG" --location "$LOCATION" --output none
az group create --name "$AIB_RG" --location "$LOCATION" --output none

deploy() {
  az deployment group create --resource-group "$RG" --name goldenpipe --template-file deploy/main.bicep \
    --parameters name="$NAME" imageBuilderResourceGroup="$AIB_RG" deployEventSubscriptions="$1" \
    --query properties.outputs --output json
}

echo "deploy: pass 1, the infrastructure"
deploy false > /dev/null
APP=$(az deployment group show --resource-group "$RG" --name goldenpipe --query properties.outputs.functionAppName.value -o tsv)

echo "deploy: the code ($APP)"
make package
az functionapp deployment source config-zip --resource-group "$RG" --name "$APP" --src dist/goldenpipe.zip --output none

echo "deploy: pass 2, the blob event subscriptions"
deploy true

echo "deploy: done. The status page: https://$APP.azurewebsites.net/api/?code=<key>"
echo "        (the key: az functionapp keys list --resource-group $RG --name $APP --query functionKeys.default -o tsv)"
