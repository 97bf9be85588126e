// The front page: the list of articles comes from the portal's API once the page has loaded.
window.addEventListener('load', function () {
  fetch('/api/te-fundit.json').then(function (r) { return r.json(); }).then(function (data) {
    var list = document.getElementById('lajmet');
    data.artikuj.forEach(function (a) {
      var item = document.createElement('li');
      var link = document.createElement('a');
      link.className = 'lajm';
      link.href = a.adresa;
      link.textContent = a.titulli;
      item.appendChild(link);
      list.appendChild(item);
    });
  });
});
