// Captures the requests @alicloud/cs20151215 signs (fixed date and nonce, HTTP stubbed) as test vectors.
// Not part of the build: Meridian does not depend on node. To recompute sdk_vectors.json's requests:
//   mkdir /tmp/acksdk && cd /tmp/acksdk && npm install @alicloud/cs20151215 @alicloud/openapi-client
//   cp sdk_vectors.js /tmp/acksdk && node /tmp/acksdk/sdk_vectors.js > vectors.json   # then copy "requests" over
const dara = require('@darabonba/typescript');
const daraCore = require('@darabonba/typescript/dist/core');
const utils = require('@alicloud/openapi-core/dist/utils').default;
const CS = require('@alicloud/cs20151215');
const Client = CS.default;
const { Config } = require('@alicloud/openapi-client');
utils.getTimestamp = () => '2026-01-15T08:30:00Z';
let nonceCounter = 0;
utils.getNonce = () => `0123456789abcdef0123456789abcde${nonceCounter++}`;
const captured = [];
let nextResponse = '{}';
daraCore.doAction = async (request) => {
  let body = '';
  if (request.body) { const chunks = []; for await (const c of request.body) chunks.push(Buffer.from(c)); body = Buffer.concat(chunks).toString('utf8'); }
  captured.push({method: request.method, pathname: request.pathname, query: request.query || {}, headers: request.headers, body});
  const { Readable } = require('stream');
  const r = new dara.Response(Object.assign(Readable.from([Buffer.from(nextResponse)]), {statusCode: 200, headers: {'content-type': 'application/json'}}));
  return r;
};
(async () => {
  const make = (token) => new Client(new Config({accessKeyId: 'LTAI5tTestAccessKeyId', accessKeySecret: 'TestAccessKeySecretValue0123456', securityToken: token, endpoint: 'cs.cn-hangzhou.aliyuncs.com', regionId: 'cn-hangzhou'}));
  const c = make(undefined);
  const run = async (f) => { try { await f(); } catch (e) { console.error('call failed (captured anyway):', e.message); } };
  await run(() => c.describeClustersV1(new CS.DescribeClustersV1Request({pageNumber: 1, pageSize: 50, name: 'edge central'})));
  await run(() => c.describeClusterDetail('c82e6987e2961451182edacd74faf0000'));
  await run(() => c.describeClusterNodePools('c82e6987e2961451182edacd74faf0000', new CS.DescribeClusterNodePoolsRequest({})));
  await run(() => c.createClusterNodePool('c82e6987e2961451182edacd74faf0000', new CS.CreateClusterNodePoolRequest({
    nodepoolInfo: new CS.CreateClusterNodePoolRequestNodepoolInfo({name: 'gpu-p100', type: 'ess'}),
    scalingGroup: new CS.CreateClusterNodePoolRequestScalingGroup({vswitchIds: ['vsw-a'], instanceTypes: ['ecs.gn5-c4g1.xlarge'], desiredSize: 1}),
    kubernetesConfig: new CS.CreateClusterNodePoolRequestKubernetesConfig({labels: [new CS.Tag({key: 'accelerator', value: 'p100'})], taints: [new CS.Taint({key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule'})]}),
  })));
  await run(() => c.modifyClusterNodePool('c82e6987e2961451182edacd74faf0000', 'np615c0e0966124216a0412e10afe0000', new CS.ModifyClusterNodePoolRequest({
    scalingGroup: new CS.ModifyClusterNodePoolRequestScalingGroup({desiredSize: 3})})));
  await run(() => c.deleteClusterNodepool('c82e6987e2961451182edacd74faf0000', 'np615c0e0966124216a0412e10afe0000', new CS.DeleteClusterNodepoolRequest({force: true})));
  await run(() => c.describeTaskInfo('T-5a54309c80282e39ea00002f'));
  await run(() => c.describeClusterUserKubeconfig('c82e6987e2961451182edacd74faf0000', new CS.DescribeClusterUserKubeconfigRequest({privateIpAddress: false})));
  const s = make('STS.TestSecurityToken+/=');
  await run(() => s.describeClusterDetail('c82e6987e2961451182edacd74faf0000'));
  const vectors = captured.map((r) => {
    const h = {};
    for (const k of Object.keys(r.headers)) if (k !== 'user-agent') h[k] = String(r.headers[k]);
    const q = {};
    for (const k of Object.keys(r.query)) q[k] = String(r.query[k]);
    return {method: r.method, pathname: r.pathname, query: q, headers: h, body: r.body};
  });
  console.log(JSON.stringify({source: 'computed with @alicloud/cs20151215 ' + require('@alicloud/cs20151215/package.json').version + ' and @alicloud/openapi-core ' + require('@alicloud/openapi-core/package.json').version + ' (tools: tests/backend/ack/sdk_vectors.js); access key id LTAI5tTestAccessKeyId, secret TestAccessKeySecretValue0123456', requests: vectors}, null, 1));
})();
