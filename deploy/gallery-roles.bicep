// Roles in a resource group holding Azure Compute Galleries that templates
// publish to: the app keeps their versions like snapshots
// (goldenpipe.keepVersions, excludeFromLatest after a failed validation,
// rollback). Image Builder's own identity writes the versions (the image
// writer role of imagebuilder-roles.bicep, assigned in the same group).
targetScope = 'resourceGroup'

@description('Principal id of the function app.')
param appPrincipalId string

@description('Principal id of the identity Image Builder runs as.')
param aibPrincipalId string

// Least privilege: read the versions, write one back (its excludeFromLatest
// flag, as `az sig image-version update` does: a read, then a PUT of the
// version) and delete old ones. Nothing on galleries or image definitions
// themselves.
resource keeper 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'goldenpipe-gallery-version-keeper')
  properties: {
    roleName: 'goldenpipe gallery version keeper (${resourceGroup().name}, ${subscription().subscriptionId})'
    description: 'Read, update (excludeFromLatest) and delete the image versions of the galleries in this resource group.'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
          'Microsoft.Compute/galleries/images/versions/delete'
        ]
      }
    ]
  }
}

// Image Builder publishes versions into these galleries.
resource writer 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'goldenpipe-gallery-writer')
  properties: {
    roleName: 'goldenpipe gallery writer (${resourceGroup().name}, ${subscription().subscriptionId})'
    description: 'What Azure VM Image Builder needs to publish image versions to the galleries in this resource group.'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: [
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          'Microsoft.Compute/galleries/images/versions/write'
        ]
      }
    ]
  }
}

resource appKeeper 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, keeper.id)
  properties: { roleDefinitionId: keeper.id, principalId: appPrincipalId, principalType: 'ServicePrincipal' }
}

resource aibWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, aibPrincipalId, writer.id)
  properties: { roleDefinitionId: writer.id, principalId: aibPrincipalId, principalType: 'ServicePrincipal' }
}
