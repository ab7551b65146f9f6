(function(){
  var blob=document.getElementById('pss-data');
  var DATA=blob?JSON.parse(blob.textContent):{fields:[],strings:[''],items:[],manifests:{}};
  function rec(i){
    var row=DATA.items[i], o={};
    if(!row) return null;
    DATA.fields.forEach(function(f,k){o[f]=DATA.strings[row[k]];});
    return o;
  }
  function el(tag,cls,text){var e=document.createElement(tag); if(cls) e.className=cls; if(text!=null) e.textContent=text; return e;}
  function kv(rows){
    var d=el('div','kv');
    rows.forEach(function(r){d.appendChild(el('div',null,r[0])); d.appendChild(el('div',null,r[1]||'-'));});
    return d;
  }
  function block(parent,title,text,attrs){
    if(!text) return null;
    parent.appendChild(el('h4',null,title));
    var p=el('pre',null,text);
    for(var k in (attrs||{})) p.setAttribute(k,attrs[k]);
    parent.appendChild(p); return p;
  }
  function build(d){
    var body=d.querySelector(':scope > .body');
    if(!body||body.dataset.built) return;
    var r=rec(+d.dataset.i);
    if(!r) return;
    body.textContent='';
    body.dataset.built='1';
    if(r.skip) body.appendChild(el('p','mute','skipped: '+r.skip));
    var eo=el('div','eo'), e=el('div'), o=el('div');
    e.appendChild(el('h4',null,'Expected'));
    e.appendChild(kv([['outcome',r.exp_outcome],['checks',r.exp_checks],['audit checks',r.exp_audit],['why',r.exp_reason]]));
    o.appendChild(el('h4',null,'Observed'));
    o.appendChild(kv([['outcome',r.obs_outcome],['checks',r.obs_checks],['policy in message',r.obs_policy],['audit checks',r.obs_audit]]));
    eo.appendChild(e); eo.appendChild(o); body.appendChild(eo);
    block(body,'Server message',r.message);
    block(body,'Warnings',r.warnings);
    block(body,'Audit event (PodSecurity annotations)',r.audit);
    block(body,'Request',r.request);
    body.appendChild(kv([['namespace',r.namespace],['started',r.started],['finished',r.finished],['node id',r.nodeid]]));
    if(r.manifest) block(body,'Manifest sent',DATA.manifests[r.manifest]||'(not in this page)',{'data-manifest':r.manifest,'data-filled':'1'});
  }
  document.addEventListener('toggle',function(ev){
    var d=ev.target; if(d.classList&&d.classList.contains('item')&&d.open) build(d);
  },true);
  function openEntry(el,scroll){
    for(var p=el;p;p=p.parentElement){ if(p.tagName==='DETAILS'){p.open=true; if(p.classList.contains('item')) build(p);} }
    el.classList.add('hl');
    if(scroll!==false) el.scrollIntoView({block:'start'});
  }
  function findEntry(key){
    if(!key) return null;
    var el=document.getElementById(key)||document.getElementById('i-'+key)||document.getElementById('s-'+key);
    if(el) return el;
    var all=document.querySelectorAll('details.item');
    for(var i=0;i<all.length;i++){
      var d=all[i];
      if(d.dataset.name===key) return d;
      var r=rec(+d.dataset.i); if(r&&r.nodeid===key) return d;
    }
    return null;
  }
  var state={result:'all',text:'',cell:null};
  function apply(){
    var txt=state.text.toLowerCase();
    document.querySelectorAll('details.scenario').forEach(function(s){
      var shown=0, sHit=txt&&s.dataset.search.indexOf(txt)>=0;
      s.querySelectorAll('details.item').forEach(function(d){
        var ok=(state.result==='all'||d.dataset.result===state.result), r=null;
        if(ok&&txt&&!sHit){ r=rec(+d.dataset.i); ok=(d.dataset.name+' '+d.dataset.result+' '+r.controls).toLowerCase().indexOf(txt)>=0; }
        if(ok&&state.cell){
          r=r||rec(+d.dataset.i);
          ok=d.dataset.level===state.cell.level&&d.dataset.mode===state.cell.mode&&
             (' '+r.controls+' ').indexOf(' '+state.cell.check+' ')>=0;
        }
        d.classList.toggle('hidden',!ok); if(ok) shown++;
      });
      s.classList.toggle('hidden',shown===0);
      if(state.cell&&shown) s.open=true;
    });
    var note=document.getElementById('cellnote');
    if(note){ note.textContent=state.cell?('showing '+state.cell.check+' \u00d7 '+state.cell.level+' \u00d7 '+state.cell.mode+' '):''; }
    document.getElementById('clearcell').classList.toggle('hidden',!state.cell);
  }
  var rs=document.getElementById('fresult'), tx=document.getElementById('ftext');
  rs.addEventListener('change',function(){state.result=rs.value;apply();});
  tx.addEventListener('input',function(){state.text=tx.value;apply();});
  document.getElementById('clearcell').addEventListener('click',function(){
    state.cell=null; document.querySelectorAll('td.c.sel').forEach(function(c){c.classList.remove('sel');}); apply();});
  document.getElementById('openfailed').addEventListener('click',function(){
    document.querySelectorAll('details.item[data-result="failed"]').forEach(function(d){openEntry(d,false);});
  });
  document.querySelectorAll('table.matrix td.c[data-check]').forEach(function(c){
    c.addEventListener('click',function(){
      document.querySelectorAll('td.c.sel').forEach(function(x){x.classList.remove('sel');});
      c.classList.add('sel');
      state.cell={check:c.dataset.check,level:c.dataset.level,mode:c.dataset.mode}; apply();
      document.getElementById('scenarios').scrollIntoView({block:'start'});
    });
  });
  var params=new URLSearchParams(location.search);
  var key=params.get('expand')||decodeURIComponent((location.hash||'').slice(1));
  var target=findEntry(key);
  var focus=params.get('focus')==='1'&&target;
  if(focus){
    document.body.classList.add('focus');
    document.querySelectorAll('details.scenario,details.item').forEach(function(d){
      if(!d.contains(target)&&!target.contains(d)&&d!==target) d.classList.add('hidden');
    });
  }
  if(target){ openEntry(target,!focus); document.body.dataset.expanded=target.id; }
  else if(params.get('expand')){ document.body.dataset.expanded='not-found'; }
  if(params.get('result')){ rs.value=params.get('result'); state.result=rs.value; apply(); }
})();
