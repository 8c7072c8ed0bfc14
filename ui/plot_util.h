// Shared plot and table plumbing: a consistently styled QCustomPlot, export of any plot to PNG,
// PDF or SVG (chosen by the file suffix) and of any table to CSV, offered on right-click.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

class QCustomPlot;
class QTableWidget;
class QWidget;
class QCPGraph;

namespace mabert::ui {

// A plot with the studio's style, drag/zoom on both axes and an export context menu.
QCustomPlot* make_plot(QWidget* parent, const QString& title, const QString& x_label, const QString& y_label);

// Redraws now when the plot is on screen; otherwise marks it stale and redraws when it is next
// shown, so views on hidden tabs cost the GUI thread nothing while a run streams data.
void replot_lazy(QCustomPlot* plot);
// Shows the legend in its own column right of the axes (top-aligned), where no curve can run
// under it; for plots whose curves fill every corner.
void legend_beside(QCustomPlot* plot);

// Writes the plot to `path`; the format follows the suffix (.png, .pdf, .svg). Returns false
// with *error set (naming the file) when the format is unknown or the file cannot be written.
bool export_plot(QCustomPlot* plot, const QString& path, QString* error = nullptr);
// Asks for a file name and exports; reports errors in a message box.
void export_plot_dialog(QCustomPlot* plot, QWidget* parent);

// The table as RFC-4180 CSV (header row first), and written to a file atomically.
QString table_csv(const QTableWidget* table);
bool export_csv(const QString& csv, const QString& path, QString* error = nullptr);
// Right-click "Export CSV…" on a table.
void add_table_export(QTableWidget* table);
// Fills a table from rows of cells.
void fill_table(QTableWidget* table, const QStringList& header, const QVector<QStringList>& rows);

// A distinct colour for series i (colour-blind-safe palette).
QColor series_color(int i);
// Series i's colour, dash pattern and marker shape (`marker` px): distinct in all three, so
// curves that coincide stay visible, dashes over one another.
void style_series(QCPGraph* g, int i, double marker);

}  // namespace mabert::ui
