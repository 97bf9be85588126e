// An article page: the shell fetches its article from the API and writes it into the page.
(function () {
  var slug = location.pathname.split('/').filter(Boolean).pop();
  fetch('/api/artikulli/' + slug + '.json').then(function (r) { return r.json(); }).then(function (a) {
    document.title = a.titulli + ' | Portali';
    var meta = document.createElement('meta');
    meta.setAttribute('property', 'article:published_time');
    meta.setAttribute('content', a.publikuar);
    document.head.appendChild(meta);
    var article = document.createElement('article');
    var heading = document.createElement('h1');
    heading.textContent = a.titulli;
    article.appendChild(heading);
    a.paragrafet.forEach(function (text) {
      var p = document.createElement('p');
      p.textContent = text;
      article.appendChild(p);
    });
    var app = document.getElementById('app');
    app.innerHTML = '';
    app.appendChild(article);
  });
})();
