#include "plot_util.h"

#include <QFileDialog>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QSvgGenerator>
#include <QTableWidget>
#include <qcustomplot.h>

namespace mabert::ui {

QColor series_color(int i) {
  // Okabe–Ito palette.
  static const QColor c[] = {QColor(0, 114, 178), QColor(213, 94, 0), QColor(0, 158, 115), QColor(204, 121, 167),
                             QColor(230, 159, 0), QColor(86, 180, 233), QColor(0, 0, 0), QColor(240, 228, 66)};
  return c[static_cast<size_t>(i) % (sizeof c / sizeof c[0])];
}

namespace {
// Replots a stale plot when it is shown.
class ShowReplot : public QObject {
 public:
  using QObject::QObject;
  bool eventFilter(QObject* o, QEvent* e) override {
    if (e->type() == QEvent::Show && o->property("stale").toBool()) {
      o->setProperty("stale", false);
      static_cast<QCustomPlot*>(o)->replot(QCustomPlot::rpQueuedReplot);
    }
    return false;
  }
};
}  // namespace

void replot_lazy(QCustomPlot* plot) {
  if (plot->isVisible()) {
    plot->replot(QCustomPlot::rpQueuedReplot);
  } else {
    plot->setProperty("stale", true);
  }
}

void legend_beside(QCustomPlot* p) {
  const int row = p->plotLayout()->rowCount() - 1;  // the axis rect's row (below a title)
  auto* column = new QCPLayoutGrid;
  p->plotLayout()->addElement(row, 1, column);
  column->setMargins(QMargins(4, 12, 6, 0));
  p->axisRect()->insetLayout()->take(p->legend);
  column->addElement(0, 0, p->legend);
  column->addElement(1, 0, new QCPLayoutElement(p));  // takes the height below the legend
  column->setRowStretchFactor(0, 0.001);
  p->plotLayout()->setColumnStretchFactor(1, 0.001);
  p->legend->setVisible(true);
}

void style_series(QCPGraph* g, int i, double marker) {
  static const Qt::PenStyle dashes[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine, Qt::DashDotDotLine};
  static const QCPScatterStyle::ScatterShape shapes[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                         QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDiamond,
                                                         QCPScatterStyle::ssCross};
  g->setPen(QPen(series_color(i), 2, dashes[i % 5]));
  g->setScatterStyle(QCPScatterStyle(shapes[i % 5], marker));
}

QCustomPlot* make_plot(QWidget* parent, const QString& title, const QString& x_label, const QString& y_label) {
  auto* p = new QCustomPlot(parent);
  p->setMinimumSize(240, 160);
  if (!title.isEmpty()) {
    p->plotLayout()->insertRow(0);
    auto* t = new QCPTextElement(p, title, QFont(p->font().family(), p->font().pointSize() + 1, QFont::Bold));
    t->setObjectName("title");
    p->plotLayout()->addElement(0, 0, t);
  }
  p->xAxis->setLabel(x_label);
  p->yAxis->setLabel(y_label);
  p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  p->legend->setFont(QFont(p->font().family(), std::max(7, p->font().pointSize() - 1)));
  p->installEventFilter(new ShowReplot(p));
  p->setContextMenuPolicy(Qt::CustomContextMenu);
  QObject::connect(p, &QWidget::customContextMenuRequested, p, [p](const QPoint& pos) {
    QMenu menu(p);
    menu.addAction("Export PNG / PDF / SVG…", p, [p] { export_plot_dialog(p, p); });
    menu.addAction("Reset view", p, [p] {
      p->rescaleAxes();
      p->replot();
    });
    menu.exec(p->mapToGlobal(pos));
  });
  return p;
}

bool export_plot(QCustomPlot* plot, const QString& path, QString* error) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (plot->property("stale").toBool()) {
    plot->setProperty("stale", false);
    plot->replot();
  }
  const int w = plot->width() > 50 ? plot->width() : 800, h = plot->height() > 50 ? plot->height() : 500;
  bool ok = false;
  if (suffix == "png") {
    ok = plot->savePng(path, w, h, 2.0);
  } else if (suffix == "pdf") {
    ok = plot->savePdf(path, w, h);
  } else if (suffix == "svg") {
    QSvgGenerator gen;
    gen.setFileName(path);
    gen.setSize(QSize(w, h));
    gen.setViewBox(QRect(0, 0, w, h));
    gen.setTitle(path);
    QCPPainter painter;
    ok = painter.begin(&gen);
    if (ok) {
      plot->toPainter(&painter, w, h);
      ok = painter.end();
    }
  } else {
    if (error) *error = path + ": unknown format '" + suffix + "' (use .png, .pdf or .svg)";
    return false;
  }
  if (!ok && error) *error = path + ": could not be written";
  return ok;
}

void export_plot_dialog(QCustomPlot* plot, QWidget* parent) {
  const QString path = QFileDialog::getSaveFileName(parent, "Export plot", "plot.png", "PNG (*.png);;PDF (*.pdf);;SVG (*.svg)");
  if (path.isEmpty()) return;
  QString err;
  if (!export_plot(plot, path, &err)) QMessageBox::warning(parent, "Export failed", err);
}

namespace {
QString csv_cell(QString s) {
  if (s.contains(',') || s.contains('"') || s.contains('\n')) s = '"' + s.replace("\"", "\"\"") + '"';
  return s;
}
}  // namespace

QString table_csv(const QTableWidget* t) {
  QStringList lines, cells;
  for (int c = 0; c < t->columnCount(); ++c) {
    const auto* h = t->horizontalHeaderItem(c);
    cells << csv_cell(h ? h->text() : QString());
  }
  lines << cells.join(',');
  for (int r = 0; r < t->rowCount(); ++r) {
    cells.clear();
    for (int c = 0; c < t->columnCount(); ++c) {
      const auto* it = t->item(r, c);
      cells << csv_cell(it ? it->text() : QString());
    }
    lines << cells.join(',');
  }
  return lines.join('\n') + '\n';
}

bool export_csv(const QString& csv, const QString& path, QString* error) {
  QSaveFile f(path);  // temp file + rename on commit
  if (!f.open(QIODevice::WriteOnly | QIODevice::Text) || f.write(csv.toUtf8()) < 0 || !f.commit()) {
    if (error) *error = path + ": " + f.errorString();
    return false;
  }
  return true;
}

void add_table_export(QTableWidget* table) {
  table->setContextMenuPolicy(Qt::CustomContextMenu);
  QObject::connect(table, &QWidget::customContextMenuRequested, table, [table](const QPoint& pos) {
    QMenu menu(table);
    menu.addAction("Export CSV…", table, [table] {
      const QString path = QFileDialog::getSaveFileName(table, "Export table", "table.csv", "CSV (*.csv)");
      QString err;
      if (!path.isEmpty() && !export_csv(table_csv(table), path, &err)) QMessageBox::warning(table, "Export failed", err);
    });
    menu.exec(table->viewport()->mapToGlobal(pos));
  });
}

void fill_table(QTableWidget* table, const QStringList& header, const QVector<QStringList>& rows) {
  table->clear();
  table->setColumnCount(static_cast<int>(header.size()));
  table->setHorizontalHeaderLabels(header);
  table->setRowCount(static_cast<int>(rows.size()));
  for (int r = 0; r < rows.size(); ++r)
    for (int c = 0; c < rows[r].size() && c < header.size(); ++c) {
      auto* it = new QTableWidgetItem(rows[r][c]);
      it->setFlags(it->flags() & ~Qt::ItemIsEditable);
      table->setItem(r, c, it);
    }
  table->resizeColumnsToContents();
}

}  // namespace mabert::ui
