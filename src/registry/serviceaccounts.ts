// core/v1 ServiceAccount: only metadata rules apply (the generic layer checks them); NAME SECRETS AGE.
import type { ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { asArray } from './validation.ts';

const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

export const serviceaccounts: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'ServiceAccount',
  listKind: 'ServiceAccountList',
  plural: 'serviceaccounts',
  singular: 'serviceaccount',
  namespaced: true,
  shortNames: ['sa'],
  subresources: { others: ['token'] },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1ServiceAccount',
  generationFields: [],
  columns: [
    {
      name: 'Secrets',
      type: 'integer',
      priority: 0,
      description: 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.',
      cell: (o) => asArray(o.secrets).length,
    },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
