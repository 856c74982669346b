// Roles the app needs across the subscription.
targetScope = 'subscription'

@description('Principal id of the function app.')
param appPrincipalId string

@description('The app makes a staging resource group per Image Builder template (AIB_STAGING_GROUPS=managed).')
param managedStagingGroups bool = false

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

// With AIB_STAGING_GROUPS=managed the app creates a staging group per image
// template, makes the template's identity Contributor on it (reading that
// identity's principal id), and deletes the group after the template.
// Role assignments it may write are limited by a condition to the
// Contributor role.
resource stagingGroupMaker 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (managedStagingGroups) {
  name: guid(subscription().id, 'goldenpipe-staging-groups')
  properties: {
    roleName: 'goldenpipe staging groups (${subscription().subscriptionId})'
    description: 'Create and delete the staging resource groups of Image Builder templates, and grant their identity Contributor there.'
    assignableScopes: [ subscription().id ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.Resources/subscriptions/resourceGroups/write'
          'Microsoft.Resources/subscriptions/resourceGroups/delete'
          'Microsoft.ManagedIdentity/userAssignedIdentities/read'
          'Microsoft.Authorization/roleAssignments/write'
        ]
      }
    ]
  }
}

resource appStagingGroups 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (managedStagingGroups) {
  name: guid(subscription().id, appPrincipalId, 'goldenpipe-staging-groups')
  properties: {
    roleDefinitionId: stagingGroupMaker.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    // only Contributor may be granted with it
    conditionVersion: '2.0'
    condition: '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {b24988ac-6180-42a0-ab88-20f7382dd24c}))'
  }
}
