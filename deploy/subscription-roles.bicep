// Roles the app needs across the subscription.
targetScope = 'subscription'

@description('Principal id of the function app.')
param appPrincipalId string

var blobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var blobDelegator = 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'

// "latest" is resolved by listing a marketplace image's versions, a
// subscription-level read; a failed build's customization.log is found by
// listing the storage accounts of its staging group (made by Image Builder).
resource marketplaceReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'goldenpipe-marketplace-versions-reader')
  properties: {
    // role names are unique per tenant: the subscription's id keeps a second
    // subscription of the same tenant from colliding
    roleName: 'goldenpipe reader (${subscription().subscriptionId})'
    description: 'List the versions of marketplace VM images, and storage accounts (to find Image Builder build logs).'
    assignableScopes: [ subscription().id ]
    permissions: [
      { actions: [ 'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read', 'Microsoft.Storage/storageAccounts/read' ] }
    ]
  }
}

resource appMarketplace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, marketplaceReader.id)
  properties: { roleDefinitionId: marketplaceReader.id, principalId: appPrincipalId, principalType: 'ServicePrincipal' }
}

// Image Builder puts each build's VHD in a storage account of a resource
// group it creates for that one template (IT_<group>_<template>_<guid>),
// deleted with the template, so its name is not known in advance: reading
// the VHD and signing a user delegation SAS for the server-side copy need
// these two data roles where that group will be. A stagingResourceGroup
// cannot narrow them to one fixed group: Image Builder wants a group of its
// own per image template, empty when the template is created (a group
// shared by templates fails with BadStagingResourceGroup), and the app makes
// one image template per build.
resource appStagingReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, blobDataReader)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataReader), principalId: appPrincipalId, principalType: 'ServicePrincipal' }
}

resource appStagingDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, appPrincipalId, blobDelegator)
  properties: { roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDelegator), principalId: appPrincipalId, principalType: 'ServicePrincipal' }
}
